"""Weight files that would bind wrong values or fail unclearly: non-finite
values, float32 overflow, bfloat16 and other dtypes, and files that are not
weights at all (a directory, a named pipe, random bytes, an empty file)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import numpy_helper

import nnd
from nnd import api, cli
from nnd.binding import load

MLP = """
model MLP {
    input x: [N, 4]
    output y = x -> Linear(8) as fc1 -> ReLU -> Linear(3) as fc2
}
"""
SHAPES = {"fc1.weight": (8, 4), "fc1.bias": (8,), "fc2.weight": (3, 8), "fc2.bias": (3,)}


@pytest.fixture
def mlp(tmp_path):
    p = tmp_path / "mlp.nnd"
    p.write_text(MLP)
    return str(p)


def _weights(dtype=np.float32) -> dict:
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _npz(tmp_path, arrays, name="w.npz") -> str:
    path = str(tmp_path / name)
    np.savez(path, **arrays)
    return path


def _inits(model) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


# ------------------------------------------------------------------ non-finite values


def test_nan_inf_and_float32_overflow_are_refused_naming_every_tensor(mlp, tmp_path):
    w = _weights(np.float64)
    w["fc1.weight"][0, :3] = np.nan
    w["fc1.bias"][2] = -np.inf
    w["fc2.weight"][1, 1] = 1e300         # finite in float64, inf in float32
    with pytest.raises(api.WeightError) as e:
        nnd.compile(mlp, weights=_npz(tmp_path, w))
    assert str(e.value).splitlines() == [
        f"weights in `{tmp_path / 'w.npz'}` cannot be bound to model `MLP`: 3 not finite",
        "  not finite   fc1.weight: 3 NaN",
        "  not finite   fc1.bias: 1 infinite",
        "  not finite   fc2.weight: 1 value too large for float32 (up to 1e+300; float32 ends at 3.4e+38)",
        "  = help: --allow-nonfinite (allow_nonfinite=True) binds them as they are, too large values as infinities"]


def test_non_finite_values_are_listed_with_the_other_problems_and_refused_with_partial(mlp, tmp_path):
    w = _weights()
    w["fc2.bias"][0] = np.nan
    del w["fc1.bias"]
    with pytest.raises(api.WeightError) as e:
        nnd.compile(mlp, weights=_npz(tmp_path, w))
    assert "do not fit model `MLP`: 1 missing, 1 not finite" in str(e.value)
    assert "  missing      fc1.bias [8]\n  not finite   fc2.bias: 1 NaN\n" in str(e.value)
    with pytest.raises(api.WeightError, match=r"cannot be bound to model `MLP`: 1 not finite\n"
                                              r"  not finite   fc2.bias: 1 NaN\n  = help: --allow-nonfinite"):
        nnd.compile(mlp, weights=_npz(tmp_path, w), partial=True)


def test_allow_nonfinite_binds_them_as_they_are(mlp, tmp_path):
    w = _weights(np.float64)
    w["fc1.bias"][0], w["fc1.bias"][1] = np.nan, 1e300
    got = _inits(nnd.compile(mlp, weights=_npz(tmp_path, w), allow_nonfinite=True))
    assert np.isnan(got["fc1.bias"][0]) and got["fc1.bias"][1] == np.inf
    np.testing.assert_array_equal(got["fc1.bias"][2:], w["fc1.bias"][2:].astype(np.float32))


def test_cli_refuses_non_finite_weights_unless_allowed(mlp, tmp_path, capsys):
    w = _weights()
    w["fc2.weight"][:] = np.inf
    path, out = _npz(tmp_path, w), tmp_path / "out.onnx"
    assert cli.main(["compile", mlp, "-o", str(out), "--weights", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nndc: error: weights in ") and "  not finite   fc2.weight: 24 infinite\n" in err
    assert not out.exists()
    assert cli.main(["compile", mlp, "-o", str(out), "--weights", path, "--allow-nonfinite"]) == 0
    assert np.isinf(_inits(nnd.compile(mlp, weights=path, allow_nonfinite=True))["fc2.weight"]).all()


# ------------------------------------------------------------------ dtypes


def _torch_safetensors(tmp_path, dtype, name="w.safetensors"):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=g).to(dtype) for k, s in SHAPES.items()}
    path = str(tmp_path / name)
    save_file(state, path)
    return path, state


def test_bfloat16_safetensors_become_float32_without_ml_dtypes(tmp_path):
    torch = pytest.importorskip("torch")
    path, state = _torch_safetensors(tmp_path, torch.bfloat16)
    arrays, _ = load(path)
    for k, v in state.items():
        assert arrays[k].dtype == np.float32   # not a bfloat16 that only some numpy setups understand
        np.testing.assert_array_equal(arrays[k], v.float().numpy())


def test_cli_binds_bfloat16_safetensors_in_a_fresh_process(mlp, tmp_path):
    # In a fresh nndc process nothing has registered a bfloat16 with numpy
    # (onnx does, through ml_dtypes, but is imported only after binding).
    torch = pytest.importorskip("torch")
    path, state = _torch_safetensors(tmp_path, torch.bfloat16)
    out = tmp_path / "out.onnx"
    r = subprocess.run([sys.executable, "-m", "nnd", "compile", mlp, "-o", str(out), "--weights", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import onnx
    got = _inits(onnx.load(str(out)))
    for k, v in state.items():
        np.testing.assert_array_equal(got[k], v.float().numpy())


@pytest.mark.parametrize("dtype", ["float16", "float64", "int64", "int8", "uint8"])
def test_other_safetensors_dtypes_become_float32(tmp_path, dtype):
    torch = pytest.importorskip("torch")
    path, state = _torch_safetensors(tmp_path, getattr(torch, dtype))
    arrays, _ = load(path)
    for k, v in state.items():
        assert arrays[k].dtype == np.dtype(dtype)   # bind converts to float32
        np.testing.assert_array_equal(arrays[k], v.numpy())


def test_unsupported_safetensors_dtypes_are_refused_by_name(mlp, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file
    path = str(tmp_path / "f8.safetensors")
    save_file({"fc1.weight": torch.zeros(8, 4).to(torch.float8_e4m3fn), "fc1.bias": torch.zeros(8),
               "fc2.weight": torch.zeros(3, 8).to(torch.float8_e5m2), "fc2.bias": torch.zeros(3)}, path)
    with pytest.raises(api.WeightError, match=r"2 tensors of a type nndc cannot convert to float32: "
                                              r"fc1\.weight \(F8_E4M3\), fc2\.weight \(F8_E5M2\); "
                                              r"supported: F64, F32, F16, BF16, integers"):
        nnd.compile(mlp, weights=path)


# ------------------------------------------------------------------ files that are not weights


def test_a_directory_or_a_pipe_says_what_it_is(mlp, tmp_path, capsys):
    d = tmp_path / "dir.npz"
    d.mkdir()
    with pytest.raises(api.WeightError, match=r"cannot read weights from `.*dir\.npz`: is a directory$"):
        nnd.compile(mlp, weights=str(d))
    assert cli.main(["compile", mlp, "--weights", str(d)]) == 2
    assert capsys.readouterr().err.endswith("dir.npz`: is a directory\n")
    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)   # nobody writes to it: opening it to read would block
    with pytest.raises(api.WeightError, match=r"pipe\.safetensors`: is not a regular file \(a named pipe\)$"):
        nnd.compile(mlp, weights=str(fifo))
    assert cli.main(["compile", mlp, "--weights", str(fifo)]) == 2
    assert capsys.readouterr().err.endswith("pipe.safetensors`: is not a regular file (a named pipe)\n")


def test_random_bytes_are_not_a_valid_npz(mlp, tmp_path):
    bad = tmp_path / "random.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(200))
    with pytest.raises(api.WeightError) as e:
        nnd.compile(mlp, weights=str(bad))
    assert "not a valid .npz file" in str(e.value) and "unsafe" not in str(e.value)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(open(_npz(tmp_path, _weights()), "rb").read()[:300])
    with pytest.raises(api.WeightError, match=r"truncated\.npz`: not a valid \.npz file \("):
        nnd.compile(mlp, weights=str(truncated))


def test_pickled_arrays_in_an_npz_are_not_loaded(mlp, tmp_path):
    path = _npz(tmp_path, {"fc1.weight": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(api.WeightError, match=r"array `fc1\.weight` holds Python objects \(pickled data\), "
                                              r"which nndc never loads"):
        nnd.compile(mlp, weights=path)


def test_an_empty_or_garbled_onnx_file_is_not_a_valid_model(mlp, tmp_path, capsys):
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(api.WeightError, match=r"empty\.onnx`: the file is empty \(not a valid ONNX model\)$"):
        nnd.compile(mlp, weights=str(empty))
    assert cli.main(["compile", mlp, "--weights", str(empty)]) == 1
    assert "the file is empty" in capsys.readouterr().err
    garbled = tmp_path / "garbled.onnx"
    garbled.write_bytes(np.random.default_rng(1).bytes(300))
    with pytest.raises(api.WeightError, match=r"garbled\.onnx`: not a valid ONNX model"):
        nnd.compile(mlp, weights=str(garbled))
    no_graph = tmp_path / "no_graph.onnx"
    no_graph.write_bytes(b"\x08\x07")   # a ModelProto with only ir_version = 7
    with pytest.raises(api.WeightError, match=r"no_graph\.onnx`: not a valid ONNX model \(it has no graph\)$"):
        nnd.compile(mlp, weights=str(no_graph))
