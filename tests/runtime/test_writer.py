"""The streaming writer produces exactly what protobuf would."""

import io
import os
import stat

import numpy as np
import onnx
import pytest

import nnd
from nnd.writer import LoweredModel

from conftest import LENET, SMALL


def _lazy(**kw):
    return nnd.compile(**kw, lazy=True)


@pytest.mark.parametrize("src", [dict(path=LENET), dict(text=SMALL)])
def test_streamed_bytes_equal_serialize(src):
    lm = _lazy(**src)
    want = lm.to_proto().SerializeToString()
    got = lm.to_bytes()
    assert got == want
    assert lm.nbytes() == len(want)


def test_from_proto_round_trip_is_identical():
    m = nnd.compile(text=SMALL)
    assert LoweredModel.from_proto(m).to_bytes() == m.SerializeToString()


def test_proto_with_other_fields_is_identical():
    m = nnd.compile(LENET)
    m.doc_string = "doc"
    m.graph.doc_string = "graph doc"
    m.graph.value_info.add().name = "extra"
    m.training_info.add()
    assert LoweredModel.from_proto(m).to_bytes() == m.SerializeToString()


def test_save_is_checked_and_loads_identically(tmp_path):
    out = str(tmp_path / "small.onnx")
    lm = _lazy(text=SMALL)
    nnd.save(lm, out)
    loaded = onnx.load(out)
    onnx.checker.check_model(loaded, full_check=True)
    ref = lm.to_proto()
    assert loaded == ref
    for a, b in zip(loaded.graph.initializer, ref.graph.initializer):
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(a), onnx.numpy_helper.to_array(b))


def test_save_of_a_modelproto_streams_the_same_bytes(tmp_path):
    m = nnd.compile(text=SMALL)
    out = str(tmp_path / "m.onnx")
    nnd.save(m, out)
    with open(out, "rb") as f:
        assert f.read() == m.SerializeToString()


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path):
    out = tmp_path / "m.onnx"
    nnd.save(_lazy(path=LENET), str(out))
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"old")
    lm = _lazy(path=LENET)

    def boom(self, f):
        f.write(b"partial")
        raise RuntimeError("disk full")
    monkeypatch.setattr(LoweredModel, "write", boom)
    with pytest.raises(RuntimeError):
        nnd.save(lm, str(out))
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_weights_are_not_copied_by_lowering():
    from nnd.api import build
    from nnd.lower import lower_lazy
    ir, _ = build(text=SMALL)
    lm = lower_lazy(ir)
    arrays = {f"{d['name']}.{k}": a for _, d in ir.g.nodes(data=True) for k, a in d.get("arrays", {}).items()}
    inits = {i.name: i.array for i in lm.inits}
    assert np.shares_memory(inits["conv.weight"], arrays["conv.weight"])
    assert np.shares_memory(inits["fc.weight"], arrays["fc.weight"])


def test_compile_is_deterministic():
    assert _lazy(text=SMALL).to_bytes() == _lazy(text=SMALL).to_bytes()


def test_digest_matches_the_bytes(tmp_path):
    import hashlib
    lm = _lazy(path=LENET)
    digest = lm.save(str(tmp_path / "m.onnx"), digest=True)
    assert digest == hashlib.sha256(lm.to_bytes()).hexdigest()


# ------------------------------------------------------------------ external data: the pair stays consistent


def _outputs(path):
    import onnxruntime as ort
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 3, 8, 8)).astype(np.float32),
             "z": rng.standard_normal((2, 4, 8, 8)).astype(np.float32)}
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _fail_at(monkeypatch, step, out):
    """Make one step of saving `out` with external data fail, as a kill there would stop it."""
    real_replace = os.replace

    def replace(src, dst):
        if (step == "data rename" and str(dst).endswith(".data")) or (step == "graph rename" and dst == out):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    if step == "data write":
        from nnd import writer
        real = writer._externalize

        def externalize(inits, f, *a):
            real(inits, f, *a)
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(writer, "_externalize", externalize)


@pytest.mark.parametrize("step", ["data write", "data rename", "graph rename"])
def test_a_failed_external_save_keeps_the_old_pair_and_its_weights(tmp_path, monkeypatch, step):
    out = str(tmp_path / "m.onnx")
    written = nnd.save(_lazy(text=SMALL, seed=0), out, external_threshold=1000)
    assert len(written) == 2
    old = _outputs(out)
    before = sorted(os.listdir(tmp_path))
    new_model = _lazy(text=SMALL, seed=1)
    with monkeypatch.context() as m:
        _fail_at(m, step, out)
        with pytest.raises(OSError):
            nnd.save(new_model, out, external_threshold=1000)
    assert sorted(os.listdir(tmp_path)) == before          # no new data file, no temporary
    assert _same(_outputs(out), old)                         # the old graph with the old weights
    written = nnd.save(new_model, out, external_threshold=1000)
    new = _outputs(out)
    assert not _same(new, old)
    np.testing.assert_array_equal(new[0], _outputs_of(new_model)[0])
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", os.path.basename(written[1])]   # the old data is gone


def _outputs_of(lm):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "one.onnx")
        nnd.save(lm, p)
        return _outputs(p)


def test_the_data_file_is_named_by_its_bytes(tmp_path):
    out = str(tmp_path / "m.onnx")
    a = nnd.save(_lazy(text=SMALL, seed=0), out, external_threshold=1000)[1]
    b = nnd.save(_lazy(text=SMALL, seed=1), out, external_threshold=1000)[1]
    c = nnd.save(_lazy(text=SMALL, seed=0), out, external_threshold=1000)[1]
    assert a != b and a == c
    import re
    assert re.fullmatch(r"m\.onnx\.[0-9a-f]{16}\.data", os.path.basename(a))
    onnx.checker.check_model(out, full_check=True)


def test_data_files_left_by_earlier_saves_are_removed(tmp_path):
    out = str(tmp_path / "m.onnx")
    for stray in ("m.onnx.0123456789abcdef.data", "m.onnx.data"):   # a killed save's, an older nndc's
        (tmp_path / stray).write_bytes(b"stale")
    (tmp_path / "other.onnx.0123456789abcdef.data").write_bytes(b"not m's")
    written = nnd.save(_lazy(text=SMALL), out, external_threshold=1000)
    assert sorted(os.listdir(tmp_path)) == sorted(["m.onnx", os.path.basename(written[1]),
                                                   "other.onnx.0123456789abcdef.data"])
    nnd.save(_lazy(text=SMALL), out)   # now one file: its data file goes too
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "other.onnx.0123456789abcdef.data"]


# ------------------------------------------------------------------ temporaries and non-regular outputs


def _dead_pid() -> int:
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_processes_are_swept(tmp_path):
    import time
    dead = _dead_pid()
    names = {"dead": f".nndc-{dead}-abc_123.tmp", "fresh": f".nndc-{dead}-fresh1.tmp",
             "live": f".nndc-{os.getpid()}-live12.tmp", "unnamed": ".nndc-k2j4l5m6.tmp"}
    hour_ago = time.time() - 3600
    for k, n in names.items():
        (tmp_path / n).write_bytes(b"x")
        if k != "fresh":   # untouched for a minute: else it may be a live writer we cannot see
            os.utime(tmp_path / n, (hour_ago, hour_ago))
    nnd.save(_lazy(text=SMALL), str(tmp_path / "m.onnx"))
    left = set(os.listdir(tmp_path))
    assert names["dead"] not in left
    assert {names["fresh"], names["live"], names["unnamed"], "m.onnx"} == left


def test_temporaries_carry_the_writers_pid(tmp_path, monkeypatch):
    seen = []

    def boom(self, f):
        seen.extend(os.listdir(tmp_path))
        raise RuntimeError("stop")
    monkeypatch.setattr(LoweredModel, "write", boom)
    with pytest.raises(RuntimeError):
        nnd.save(_lazy(text=SMALL), str(tmp_path / "m.onnx"))
    (name,) = seen
    assert name.startswith(f".nndc-{os.getpid()}-") and name.endswith(".tmp")
    assert os.listdir(tmp_path) == []


def test_a_fifo_output_is_refused_and_left_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="named pipe"):
        nnd.save(_lazy(text=SMALL), str(fifo))   # refused before opening it: no reader, no hang
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


def test_a_character_device_is_written_through(tmp_path):
    if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
        pytest.skip("no /dev/null character device here")
    assert nnd.save(_lazy(text=SMALL), "/dev/null") == ["/dev/null"]
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    with pytest.raises(OSError, match="regular output file"):
        nnd.save(_lazy(text=SMALL), "/dev/null", external_threshold=1000)
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
