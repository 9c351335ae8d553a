"""nnd.load and Model.run."""

import subprocess
import sys

import numpy as np
import pytest

import nnd

from conftest import LENET, SMALL


def test_import_nnd_does_not_import_onnxruntime():
    code = ("import sys, nnd; nnd.check(sys.argv[1]); "
            "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'")
    subprocess.run([sys.executable, "-c", code, LENET], check=True)


def test_nndc_check_does_not_import_onnxruntime():
    code = ("import sys; from nnd.cli import main; rc = main(['check', sys.argv[1]]); "
            "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'; sys.exit(rc)")
    subprocess.run([sys.executable, "-c", code, LENET], check=True)


def test_load_nnd_and_run():
    m = nnd.load(LENET, device="cpu")
    assert [i.name for i in m.inputs] == ["image"]
    assert m.inputs[0].shape == ("N", 1, 32, 32)
    assert m.inputs[0].dtype == np.float32
    assert [o.name for o in m.outputs] == ["probs"]
    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    y = m.run(x)
    assert list(y) == ["probs"] and y["probs"].shape == (2, 10)
    np.testing.assert_allclose(y["probs"].sum(axis=1), 1.0, rtol=1e-5)
    # the same through every calling convention
    for other in (m.run({"image": x}), m.run(image=x), m(x), m.run([x])):
        np.testing.assert_array_equal(other["probs"], y["probs"])


def test_load_matches_compile_with_the_same_seed(lenet_onnx):
    a, b = nnd.load(LENET, seed=0), nnd.load(lenet_onnx)
    x = a.random_inputs(batch=3)
    np.testing.assert_array_equal(a.run(x)["probs"], b.run(x)["probs"])
    c = nnd.load(LENET, seed=1)
    assert not np.array_equal(a.run(x)["probs"], c.run(x)["probs"])


def test_load_a_modelproto_and_a_lowered_model():
    import onnxruntime as ort
    proto = nnd.compile(text=SMALL)
    m1 = nnd.load(proto)
    m2 = nnd.load(nnd.compile(text=SMALL, lazy=True))
    feeds = m1.random_inputs(batch=2, seed=3)
    ref = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for m in (m1, m2):
        out = m.run(feeds)
        assert list(out) == ["y", "s"]
        np.testing.assert_allclose(out["y"], ref[0], rtol=1e-6)
        np.testing.assert_allclose(out["s"], ref[1], rtol=1e-6)


def test_run_checks_names_and_shapes():
    m = nnd.load(text_model())
    x = np.zeros((1, 3, 8, 8), np.float32)
    z = np.zeros((1, 4, 8, 8), np.float32)
    with pytest.raises(ValueError, match="input `z` is missing"):
        m.run({"x": x})
    with pytest.raises(ValueError, match="no input `w`"):
        m.run(x=x, z=z, w=z)
    with pytest.raises(ValueError, match="axis 1 is 5, not 3"):
        m.run(x=np.zeros((1, 5, 8, 8), np.float32), z=z)
    out = m.run(x.astype(np.float64), z)     # converted to the declared dtype
    assert out["y"].shape == (1, 5)


def text_model():
    return nnd.compile(text=SMALL)


def test_random_inputs_use_the_batch():
    m = nnd.load(LENET)
    feeds = m.random_inputs(batch=5, seed=1)
    assert feeds["image"].shape == (5, 1, 32, 32) and feeds["image"].dtype == np.float32
    np.testing.assert_array_equal(feeds["image"], m.random_inputs(batch=5, seed=1)["image"])


def test_load_cuda_without_a_gpu_raises():
    from nnd.runtime.session import DeviceError, cuda_unavailable
    if cuda_unavailable() is None:
        pytest.skip("a CUDA GPU is usable here")
    with pytest.raises(DeviceError):
        nnd.load(LENET, device="cuda")
