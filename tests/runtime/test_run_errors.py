"""nndc run and nndc bench on bad arguments and bad input files: one line, exit 2."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nnd.cli import main


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nndc: error: "), err
    for w in words:
        assert w in err, (w, err)
    return err


def _huge_npy(path):
    """A .npy whose header claims 373 TiB, with 16 bytes of data."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (100_000_000_000, 1, 32, 32)})
        f.write(b"\0" * 16)


def test_an_empty_npy(lenet_onnx, tmp_path, capsys):
    (tmp_path / "e.npy").write_bytes(b"")
    assert main(["run", lenet_onnx, "--input", f"image={tmp_path / 'e.npy'}"]) == 2
    _one_line_error(capsys, "e.npy", "empty")


def test_a_npy_whose_header_claims_more_than_the_file_holds(lenet_onnx, tmp_path, capsys):
    _huge_npy(tmp_path / "h.npy")
    assert main(["run", lenet_onnx, "--input", f"image={tmp_path / 'h.npy'}"]) == 2
    _one_line_error(capsys, "h.npy", "373", "TiB")


def test_a_npz_member_whose_header_claims_more_than_it_holds(lenet_onnx, tmp_path, capsys):
    import zipfile
    _huge_npy(tmp_path / "h.npy")
    with zipfile.ZipFile(tmp_path / "h.npz", "w") as z:
        z.write(tmp_path / "h.npy", "image.npy")
    assert main(["run", lenet_onnx, "--input", str(tmp_path / "h.npz")]) == 2
    _one_line_error(capsys, "h.npz", "image", "TiB")


def test_an_object_array_in_an_npz(lenet_onnx, tmp_path, capsys):
    np.savez(tmp_path / "o.npz", image=np.array([1, "a"], dtype=object))
    assert main(["run", lenet_onnx, "--input", str(tmp_path / "o.npz")]) == 2
    _one_line_error(capsys, "o.npz", "object", "pickle")


def test_an_object_array_in_an_npy(lenet_onnx, tmp_path, capsys):
    np.save(tmp_path / "o.npy", np.array([1, "a"], dtype=object))
    assert main(["run", lenet_onnx, "--input", f"image={tmp_path / 'o.npy'}"]) == 2
    _one_line_error(capsys, "o.npy", "object", "pickle")


def test_a_batch_too_large_for_memory(lenet_onnx, capsys):
    assert main(["run", lenet_onnx, "--batch", "1000000000"]) == 2
    _one_line_error(capsys, "--batch 1000000000", "3.7 TiB")


@pytest.mark.parametrize("args,words", [
    (["--batch", "0"], ["--batch", "at least 1"]),
    (["--batch", "-2"], ["--batch", "at least 1"]),
    (["--threads", "-3"], ["--threads", "at least 1"]),
    (["--threads", "0"], ["--threads", "at least 1"]),
])
def test_bad_numbers(lenet_onnx, capsys, args, words):
    assert main(["run", lenet_onnx, *args]) == 2
    _one_line_error(capsys, *words)


@pytest.mark.parametrize("args,words", [
    (["--runs", "0"], ["--runs", "at least 1"]),
    (["--warmup", "-1"], ["--warmup", "0 or more"]),
])
def test_bench_bad_numbers(lenet_onnx, capsys, args, words):
    assert main(["bench", lenet_onnx, *args]) == 2
    _one_line_error(capsys, *words)


def test_bench_function_refuses_zero_runs():
    from nnd.runtime.bench import bench
    with pytest.raises(ValueError):
        bench(lambda: None, runs=0, warmup=0)


def test_an_input_given_twice(lenet_onnx, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    x = str(tmp_path / "x.npy")
    assert main(["run", lenet_onnx, "--input", f"image={x}", "--input", f"image={x}"]) == 2
    _one_line_error(capsys, "`image`", "twice")
    np.savez(tmp_path / "x.npz", image=np.zeros((1, 1, 32, 32), np.float32))
    assert main(["run", lenet_onnx, "--input", f"image={x}", "--input", str(tmp_path / "x.npz")]) == 2
    _one_line_error(capsys, "`image`", "twice")
    assert main(["run", lenet_onnx, "--input", x, "--input", x]) == 2
    _one_line_error(capsys, "NAME=")
    assert main(["run", lenet_onnx, "--input", x, "--input", str(tmp_path / "x.npz")]) == 2
    _one_line_error(capsys, "`image`", "twice")


def test_an_input_with_an_empty_name(lenet_onnx, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    assert main(["run", lenet_onnx, "--input", f"={tmp_path / 'x.npy'}"]) == 2
    _one_line_error(capsys, "empty name")


def test_inputs_that_disagree_on_the_batch(small_nnd, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 8, 8), np.float32))
    np.save(tmp_path / "z.npy", np.zeros((3, 4, 8, 8), np.float32))
    assert main(["run", small_nnd, "--device", "cpu", "--input", f"x={tmp_path / 'x.npy'}",
                 "--input", f"z={tmp_path / 'z.npy'}"]) == 2
    _one_line_error(capsys, "`x`", "`z`", "disagree on N", "2", "3")


def test_load_run_checks_the_batch_too(small_nnd):
    import nnd
    m = nnd.load(small_nnd, device="cpu")
    with pytest.raises(ValueError, match="disagree on N"):
        m.run(x=np.zeros((2, 3, 8, 8), np.float32), z=np.zeros((3, 4, 8, 8), np.float32))


def test_directories(lenet_onnx, tmp_path, capsys):
    (tmp_path / "m.nnd").mkdir()
    (tmp_path / "in.npy").mkdir()
    assert main(["run", str(tmp_path / "m.nnd")]) == 2
    err = _one_line_error(capsys, "m.nnd", "is a directory")
    assert "no such file" not in err
    assert main(["run", lenet_onnx, "--input", f"image={tmp_path / 'in.npy'}"]) == 2
    _one_line_error(capsys, "in.npy", "is a directory")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipes_are_refused_not_waited_on(lenet_onnx, tmp_path):
    """Opening a named pipe blocks until a writer comes: it must be refused
    before it is opened (in a child process, so that a hang fails the test)."""
    os.mkfifo(tmp_path / "m.onnx")
    os.mkfifo(tmp_path / "x.npy")
    code = ("import sys; from nnd.cli import main; "
            "print(main(['run', sys.argv[1]]), main(['run', sys.argv[2], '--input', 'image=' + sys.argv[3]]))")
    try:
        p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx"), lenet_onnx,
                            str(tmp_path / "x.npy")], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("nndc run waited on a named pipe")
    assert p.stdout.split() == ["2", "2"], p.stdout + p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 2 and all("not a regular file" in ln for ln in lines), p.stderr
