"""nndc run and nndc bench."""

import json

import numpy as np
import pytest

from nnd.cli import main

from conftest import LENET


def test_run_nnd_with_random_inputs(capsys):
    assert main(["run", LENET, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "input   image  float32 [1, 1, 32, 32]  random" in out
    assert "output  probs  float32 [1, 10]" in out
    assert "mean 0.1" in out


def test_run_onnx_with_batch_and_save(lenet_onnx, tmp_path, capsys):
    out = tmp_path / "out.npz"
    assert main(["run", lenet_onnx, "--batch", "3", "--save", str(out)]) == 0
    assert "probs  float32 [3, 10]" in capsys.readouterr().out
    with np.load(out) as z:
        assert z.files == ["probs"]
        probs = z["probs"]
    assert probs.shape == (3, 10)
    import nnd
    m = nnd.load(lenet_onnx)
    np.testing.assert_allclose(probs, m.run(m.random_inputs(batch=3, seed=0))["probs"], rtol=1e-6)


@pytest.mark.parametrize("named", [True, False])
def test_run_with_an_input_file(lenet_onnx, tmp_path, capsys, named):
    x = np.random.default_rng(7).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    spec = f"image={tmp_path / 'x.npy'}" if named else str(tmp_path / "x.npy")
    out = tmp_path / "y.npz"
    assert main(["run", LENET, "--input", spec, "--save", str(out)]) == 0
    assert "from files" in capsys.readouterr().out
    import nnd
    with np.load(out) as z:
        np.testing.assert_allclose(z["probs"], nnd.load(lenet_onnx).run(x)["probs"], rtol=1e-6)


def test_run_with_an_npz_of_inputs(lenet_onnx, tmp_path):
    np.savez(tmp_path / "in.npz", image=np.zeros((1, 1, 32, 32), np.float32))
    assert main(["run", lenet_onnx, "--input", str(tmp_path / "in.npz")]) == 0


def test_bad_inputs_are_usage_errors(lenet_onnx, tmp_path, capsys):
    assert main(["run", lenet_onnx, "--input", f"image={tmp_path / 'missing.npy'}"]) == 2
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 32, 32), np.float32))
    assert main(["run", lenet_onnx, "--input", f"image={tmp_path / 'bad.npy'}"]) == 2
    assert main(["run", lenet_onnx, "--input", f"other={tmp_path / 'bad.npy'}"]) == 2
    assert main(["run", str(tmp_path / "nope.onnx")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "axis 1 is 3, not 1" in err and "no input `other`" in err


def test_run_reports_compile_errors(tmp_path, capsys):
    bad = tmp_path / "bad.nnd"
    bad.write_text("model M {\n    input x: [1, 3]\n    output y = x -> Linear(4) -> Nope\n}\n")
    assert main(["run", str(bad)]) == 1
    assert "E0102" in capsys.readouterr().err


def test_cuda_without_a_gpu_is_one_line_exit_2(capsys):
    from nnd.runtime.session import cuda_unavailable
    if cuda_unavailable() is None:
        pytest.skip("a CUDA GPU is usable here")
    assert main(["run", LENET, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nndc: error: --device cuda: CUDA is not available")


def test_bench_json(lenet_onnx, capsys):
    assert main(["bench", lenet_onnx, "--runs", "5", "--warmup", "1", "--batch", "2", "--threads", "1",
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("model", "device", "provider", "batch", "threads", "runs", "warmup", "median_ms", "p10_ms",
              "p90_ms", "mean_ms", "throughput", "session_s", "session_cached"):
        assert k in d, k
    assert d["runs"] == 5 and d["warmup"] == 1 and d["batch"] == 2 and d["threads"] == 1
    assert d["device"] == "cpu" or d["device"] == "cuda"
    assert d["p10_ms"] <= d["median_ms"] <= d["p90_ms"]
    assert d["throughput"] == pytest.approx(2 * 1000 / d["median_ms"])


def test_bench_text(capsys):
    assert main(["bench", LENET, "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "median" in out and "p10" in out and "p90" in out and "throughput" in out


def test_bench_second_session_is_cached(lenet_onnx, capsys):
    main(["bench", lenet_onnx, "--runs", "2", "--json"])
    first = json.loads(capsys.readouterr().out)
    main(["bench", lenet_onnx, "--runs", "2", "--json"])
    second = json.loads(capsys.readouterr().out)
    assert not first["session_cached"] and second["session_cached"]
    main(["bench", lenet_onnx, "--runs", "2", "--json", "--no-cache"])
    assert not json.loads(capsys.readouterr().out)["session_cached"]


def test_progress_bar_only_on_a_terminal():
    import io
    from nnd.runtime.bench import bench

    class Tty(io.StringIO):
        def isatty(self):
            return True
    s = Tty()
    bench(lambda: None, runs=5, warmup=1, progress=True, stream=s)
    assert "runs 5/5" in s.getvalue()
    plain = io.StringIO()
    bench(lambda: None, runs=5, warmup=1, stream=plain)
    assert plain.getvalue() == ""
    # a terminal, but runs this short need no bar
    t = Tty()
    bench(lambda: None, runs=5, warmup=1, stream=t)
    assert t.getvalue() == ""


def test_stats():
    from nnd.runtime.bench import stats
    r = stats([0.001 * i for i in range(1, 11)], batch=4)
    assert r.median_ms == pytest.approx(5.5)
    assert r.p10_ms == pytest.approx(1.9) and r.p90_ms == pytest.approx(9.1)
    assert r.throughput == pytest.approx(4000 / 5.5)


def test_nndc_compile_as_a_command_exits_cleanly(tmp_path):
    """As a command, nndc compile ends without interpreter teardown: the
    output must still be complete and the messages flushed."""
    import subprocess
    import sys

    import onnx
    out = tmp_path / "m.onnx"
    p = subprocess.run([sys.executable, "-m", "nnd", "compile", LENET, "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"wrote {out}"
    onnx.checker.check_model(onnx.load(str(out)))
    bad = tmp_path / "bad.nnd"
    bad.write_text("model M {\n    input x: [1, 3]\n    output y = x -> Nope\n}\n")
    p = subprocess.run([sys.executable, "-m", "nnd", "compile", str(bad)], capture_output=True, text=True)
    assert p.returncode == 1 and "E0102" in p.stderr
