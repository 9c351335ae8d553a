"""`nndc view`: the model handed to Netron (a fake `netron` module here:
no server is started and no browser opened), and the hint without it."""

import os
import sys
import types

import onnx
import pytest

from nnd.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "examples", "lenet5.nnd")


@pytest.fixture
def netron(monkeypatch):
    """A stand-in for the netron package that records what it was given and,
    while the viewer would be up, what the file held."""
    fake = types.ModuleType("netron")
    fake.calls = []

    def start(file=None, address=None, browse=True, verbosity=1):
        model = onnx.load(file) if os.path.isfile(file) else None
        if model is not None:
            onnx.checker.check_model(model, full_check=True)
        fake.calls.append((file, browse, model))
        return ("localhost", 8080)

    fake.start = start
    fake.wait = lambda: fake.calls.append("wait")
    monkeypatch.setitem(sys.modules, "netron", fake)
    return fake


def test_without_netron_one_line_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "netron", None)   # `import netron` raises ImportError
    assert main(["view", LENET]) == 2
    err = capsys.readouterr().err
    assert err == "nndc: error: nndc view needs Netron: pip install 'nnd[view]'\n"


def test_a_nnd_file_is_compiled_into_a_private_temporary_onnx(netron, capsys):
    assert main(["view", LENET, "-p", "classes=7"]) == 0
    (path, browse, model), waited = netron.calls
    assert waited == "wait" and browse is True
    assert path.endswith("lenet5.onnx") and model is not None     # it existed while shown, and checks
    assert not os.path.exists(os.path.dirname(path))               # removed once the viewer stops
    assert len(model.graph.value_info) > 0                         # Netron's edge shapes
    assert model.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 7
    assert path in capsys.readouterr().err


def test_the_temporary_directory_is_private(netron):
    seen, start = [], netron.start
    netron.start = lambda file, browse: seen.append(os.stat(os.path.dirname(file)).st_mode) or start(file, browse)
    assert main(["view", LENET]) == 0
    assert seen and seen[0] & 0o077 == 0


def test_an_onnx_file_is_shown_as_it_is(netron, tmp_path):
    out = str(tmp_path / "m.onnx")
    assert main(["compile", LENET, "-o", out]) == 0
    assert main(["view", out]) == 0
    assert netron.calls[0][0] == out and os.path.exists(out)


def test_a_model_that_does_not_check_is_not_shown(netron, tmp_path, capsys):
    bad = tmp_path / "bad.nnd"
    bad.write_text("model M {\n    input x: [N, 4]\n    output y = x -> Conv2d(8, 3)\n}\n")
    assert main(["view", str(bad)]) == 1
    assert "error[" in capsys.readouterr().err and netron.calls == []


def test_a_missing_file_is_a_usage_error(netron, tmp_path, capsys):
    assert main(["view", str(tmp_path / "nothing.onnx")]) == 2
    assert "cannot read" in capsys.readouterr().err and netron.calls == []
    assert main(["view", str(tmp_path / "nothing.nnd")]) == 2
    assert netron.calls == []
