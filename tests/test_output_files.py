"""What nndc promises about the files it writes (docs/guarantees.md): never
over an input, never replacing a device or a pipe, no temporary files left
behind by a terminated or killed compile."""

import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from nnd.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "examples", "lenet5.nnd")


@pytest.fixture
def lenet(tmp_path):
    p = tmp_path / "lenet5.nnd"
    shutil.copy(LENET, p)
    return p


def _refused(capsys, argv, what):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"it is {what}" in err and "never writes over its inputs" in err, err


def test_compile_refuses_to_write_over_its_source(lenet, tmp_path, capsys):
    text = lenet.read_bytes()
    _refused(capsys, ["compile", str(lenet), "-o", str(lenet)], f"the source file {lenet}")
    os.symlink(lenet, tmp_path / "link.onnx")    # another name for it
    os.link(lenet, tmp_path / "hard.onnx")
    for other in ("link.onnx", "hard.onnx"):
        _refused(capsys, ["compile", str(lenet), "-o", str(tmp_path / other)], f"the source file {lenet}")
    assert lenet.read_bytes() == text
    assert sorted(os.listdir(tmp_path)) == ["hard.onnx", "lenet5.nnd", "link.onnx"]


def test_compile_refuses_a_default_output_that_is_the_source(tmp_path, capsys):
    src = tmp_path / "m.onnx"   # nnd source with an .onnx name: the default output is itself
    shutil.copy(LENET, src)
    _refused(capsys, ["compile", str(src)], f"the source file {src}")
    assert src.read_text() == open(LENET).read()


def test_compile_refuses_to_write_over_an_import_or_the_weights(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    block = "block B(n) {\n    input x\n    output y = x -> Linear(n) as fc -> ReLU\n}\n"
    (tmp_path / "blocks.nnd").write_text(block)
    (tmp_path / "m.nnd").write_text('import "blocks.nnd"\n'
                                    "model M {\n    input x: [N, 4]\n    output y = x -> B(3) as b\n}\n")
    assert main(["compile", "m.nnd", "-o", "ok.onnx"]) == 0
    capsys.readouterr()
    _refused(capsys, ["compile", "m.nnd", "-o", "blocks.nnd"], "the imported file blocks.nnd")
    np.savez("w.npz", **{"b.fc.weight": np.zeros((3, 4), np.float32), "b.fc.bias": np.zeros(3, np.float32)})
    saved = open("w.npz", "rb").read()
    assert main(["compile", "m.nnd", "--weights", "w.npz", "-o", "ok.onnx"]) == 0
    _refused(capsys, ["compile", "m.nnd", "--weights", "w.npz", "-o", "w.npz"], "the weights file w.npz")
    assert open("w.npz", "rb").read() == saved
    assert open("blocks.nnd").read() == block


def test_run_refuses_to_save_over_its_model_or_inputs(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    assert main(["compile", LENET, "-o", str(model)]) == 0
    saved = model.read_bytes()
    _refused(capsys, ["run", str(model), "--save", str(model)], f"the model {model}")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 32, 32), np.float32))
    _refused(capsys, ["run", str(model), "-i", f"image={x}", "--save", str(x)], f"the input file {x}")
    assert model.read_bytes() == saved and np.load(x).shape == (1, 1, 32, 32)


@pytest.mark.parametrize("argv", [["compile", "-o", ""], ["compile", "--weights", ""], ["run", "--save", ""]])
def test_an_empty_file_name_is_a_usage_error(argv, lenet, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:   # not the default name, not "no weights", not "do not save"
        main(argv[:1] + [str(lenet)] + argv[1:])
    assert e.value.code == 2
    assert "expected a file name, got an empty string" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["lenet5.nnd"]


def _nndc(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "nnd", *args], capture_output=True, text=True, timeout=timeout)


def test_a_fifo_output_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "out.onnx"
    os.mkfifo(fifo)
    r = _nndc("compile", LENET, "-o", str(fifo))   # no reader: opening it would block
    assert r.returncode == 2
    assert f"cannot write {fifo}: it is a named pipe" in r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["out.onnx"]


def test_dev_null_stays_a_character_device(tmp_path, capsys):
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("no /dev/null character device here")
    assert main(["compile", LENET, "-o", "/dev/null"]) == 0
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert main(["run", LENET, "--save", "/dev/null"]) == 0
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert "saved   probs to /dev/null" in capsys.readouterr().out


# A compile stopped while it writes: the child's writer sleeps after its first bytes.
_SLOW = """
import sys, time
from nnd import api, writer
def slow(self, f):
    f.write(b"partial")
    f.flush()
    print("writing", flush=True)
    time.sleep(120)
writer.LoweredModel.write = slow
api.EXTERNAL_DATA_THRESHOLD = int(sys.argv[1])
sys.argv = ["nndc", "compile"] + sys.argv[2:]
from nnd.cli import main
main()
"""


def _stopped_mid_write(tmp_path, sig, threshold=2**40):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    p = subprocess.Popen([sys.executable, "-c", _SLOW, str(threshold), LENET, "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "writing\n", p.stderr.read()
        p.send_signal(sig)
        p.wait(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert out.read_bytes() == b"previous"
    return p


@pytest.mark.parametrize("external", [False, True])
def test_sigterm_mid_write_leaves_no_temporary(tmp_path, external):
    # external: the data file is already in place when the graph is stopped; it goes too
    p = _stopped_mid_write(tmp_path, signal.SIGTERM, threshold=64 if external else 2**40)
    assert p.returncode == 128 + signal.SIGTERM
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_a_killed_compiles_temporary_is_swept_by_the_next(tmp_path):
    p = _stopped_mid_write(tmp_path, signal.SIGKILL)   # nothing can clean up after kill -9 ...
    (tmp,) = [n for n in os.listdir(tmp_path) if n != "m.onnx"]
    assert tmp.startswith(f".nndc-{p.pid}-") and tmp.endswith(".tmp")
    minute_ago = time.time() - 120   # sweeping waits until a temporary is a minute untouched
    os.utime(tmp_path / tmp, (minute_ago, minute_ago))
    assert main(["compile", LENET, "-o", str(tmp_path / "next.onnx")]) == 0   # ... the next compile does
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "next.onnx"]

