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
