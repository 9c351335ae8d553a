"""Device choice and the cache of optimized models."""

import json
import os

import pytest

from nnd.runtime import session as S

NO_CUDA = S.cuda_unavailable() is not None


def test_cpu_is_cpu():
    assert S.resolve_device("cpu") == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="a CUDA GPU is usable here")
def test_auto_falls_back_to_cpu_quietly(capfd):
    assert S.resolve_device("auto") == "cpu"
    out, err = capfd.readouterr()
    assert out == "" and err == ""


@pytest.mark.skipif(not NO_CUDA, reason="a CUDA GPU is usable here")
def test_cuda_without_a_gpu_is_a_one_line_error():
    with pytest.raises(S.DeviceError) as e:
        S.resolve_device("cuda")
    assert "CUDA is not available" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.skipif(NO_CUDA, reason="no usable CUDA GPU here")
def test_auto_takes_a_usable_gpu():
    assert S.resolve_device("auto") == "cuda"


def test_unknown_device():
    with pytest.raises(S.DeviceError):
        S.resolve_device("tpu")


def test_second_session_uses_the_cached_optimized_model(lenet_onnx, _cache):
    s1, i1 = S.create_session(lenet_onnx, "cpu")
    assert not i1.cached
    assert i1.cache_path and os.path.exists(i1.cache_path)
    meta = json.loads(open(i1.cache_path[:-5] + ".json").read())
    assert meta["provider"] == "CPUExecutionProvider"
    assert meta["onnxruntime"] and meta["model_sha256"]
    s2, i2 = S.create_session(lenet_onnx, "cpu")
    assert i2.cached and i2.cache_path == i1.cache_path
    assert i2.key == i1.key
    # The cached file is the optimized model that the second session loaded.
    import onnx
    opt = onnx.load(i2.cache_path)
    assert opt.graph.node, "an optimized model"


def test_a_changed_model_gets_a_new_key(lenet_onnx, small_nnd, tmp_path):
    import nnd
    _, a = S.create_session(lenet_onnx, "cpu")
    other = str(tmp_path / "small.onnx")
    nnd.save(nnd.compile(small_nnd), other)
    _, b = S.create_session(other, "cpu")
    assert a.key != b.key and not b.cached


def test_bytes_and_file_share_the_key(lenet_onnx):
    with open(lenet_onnx, "rb") as f:
        data = f.read()
    _, a = S.create_session(lenet_onnx, "cpu")
    _, b = S.create_session(data, "cpu")
    assert b.cached and a.key == b.key


def test_cache_off(lenet_onnx, monkeypatch, _cache):
    monkeypatch.setenv("NND_CACHE_DIR", "off")
    _, info = S.create_session(lenet_onnx, "cpu")
    assert not info.cached and info.cache_path is None
    _, info = S.create_session(lenet_onnx, "cpu", cache=False)
    assert info.cache_path is None


def test_a_corrupt_cache_entry_is_replaced(lenet_onnx):
    _, i1 = S.create_session(lenet_onnx, "cpu")
    with open(i1.cache_path, "wb") as f:
        f.write(b"not a model")
    sess, i2 = S.create_session(lenet_onnx, "cpu")
    assert not i2.cached and sess.get_inputs()[0].name == "image"
    _, i3 = S.create_session(lenet_onnx, "cpu")
    assert i3.cached
