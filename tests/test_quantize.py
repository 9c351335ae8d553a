"""`nndc compile --quantize int8 --calibrate ...` and `--precision fp16|bf16`."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from nnd.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "examples", "lenet5.nnd")


def _run(argv, capsys):
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _data(n, seed=1, classes=10):
    """A synthetic 10-class task: a fixed random template per class, plus noise."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(0).standard_normal((classes, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, classes, n)
    x = templates[y] + 1.5 * rng.standard_normal((n, 1, 32, 32)).astype(np.float32)
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """LeNet-5 trained for a few seconds on the synthetic task: its weights as .npz."""
    torch = pytest.importorskip("torch")
    from tests.torch_models import lenet5
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # seconds, not minutes, on a loaded machine
    try:
        torch.manual_seed(0)
        net = lenet5()
        x, y = _data(2048)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for step in range(150):
            i = slice((step * 64) % 2048, (step * 64) % 2048 + 64)
            p = net(xt[i])
            loss = torch.nn.functional.nll_loss(torch.log(p + 1e-9), yt[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    d = tmp_path_factory.mktemp("lenet")
    w = str(d / "w.npz")
    np.savez(w, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    return w, d


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_quantized_trained_lenet_agrees_with_the_float_model(trained, capsys):
    w, d = trained
    calib = _npz(d / "calib.npz", image=_data(48, seed=2)[0])
    out = str(d / "q.onnx")
    rc, text, err = _run(["compile", LENET, "--weights", w, "--quantize", "int8", "--calibrate", calib,
                          "-o", out], capsys)
    assert rc == 0, err
    assert "calibration on 36 samples of calib.npz (48 samples)" in text
    assert "agreement   probs on 12 held-out samples" in text
    top1 = float(text.split("top-1 agreement ")[1].split("%")[0])
    cos = float(text.split("cosine ")[1].split(" ")[0])
    assert top1 >= 90.0 and cos >= 0.99, text
    q = onnx.load(out)
    ops = {n.op_type for n in q.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # per-channel weights: conv1's scale has one value per output channel
    scales = [t for t in q.graph.initializer if "conv1.weight" in t.name and "scale" in t.name]
    assert scales and list(scales[0].dims) == [6]
    # and the written model itself agrees on fresh inputs (not only the report)
    import onnxruntime as ort
    assert main(["compile", LENET, "--weights", w, "-o", str(d / "f.onnx")]) == 0
    capsys.readouterr()
    f = ort.InferenceSession(str(d / "f.onnx"), providers=["CPUExecutionProvider"])
    qs = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    x, y = _data(200, seed=3)
    pf, pq = f.run(None, {"image": x})[0], qs.run(None, {"image": x})[0]
    assert (pf.argmax(1) == pq.argmax(1)).mean() >= 0.95
    assert (pf.argmax(1) == y).mean() >= 0.9    # the training worked: the check above means something


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_calibration_methods(method, tmp_path, capsys):
    calib = _npz(tmp_path / "c.npz", image=_data(8)[0])
    rc, text, err = _run(["compile", LENET, "--quantize", "int8", "--calibrate", calib,
                          "--calibration-method", method, "-o", str(tmp_path / "q.onnx")], capsys)
    assert rc == 0, err
    assert f"{method} calibration on 6 samples" in text
    assert onnx.load(str(tmp_path / "q.onnx")).metadata_props[-1].value.endswith(method)


def test_random_calibration_warns_that_accuracy_is_unknown(tmp_path, capsys):
    rc, text, err = _run(["compile", LENET, "--quantize", "int8", "--calibrate", "random:4",
                          "-o", str(tmp_path / "q.onnx")], capsys)
    assert rc == 0
    assert "accuracy on real data is unknown" in err
    assert "random (4 samples)" in text
    assert "left float  4 node(s):" in text and "Tanh: node:tanh_0, node:tanh_1: onnxruntime's quantizer" in text
    q = onnx.load(str(tmp_path / "q.onnx"))
    onnx.checker.check_model(q, full_check=True)
    # deterministic, as every compile: the same source, seed and calibration give the same bytes
    assert main(["compile", LENET, "--quantize", "int8", "--calibrate", "random:4",
                 "-o", str(tmp_path / "q2.onnx")]) == 0
    assert (tmp_path / "q.onnx").read_bytes() == (tmp_path / "q2.onnx").read_bytes()


@pytest.mark.parametrize("argv, message", [
    (["--quantize", "int8"], "--quantize int8 needs calibration data"),
    (["--calibrate", "random:4"], "--calibrate needs --quantize int8"),
    (["--calibration-method", "entropy"], "--calibration-method needs --quantize int8"),
    (["--quantize", "int8", "--calibrate", "random:4", "--precision", "fp16"], "do not combine"),
    (["--quantize", "int8", "--calibrate", "random:1"], "random:N needs a whole number N of at least 2"),
    (["--quantize", "int8", "--calibrate", "random:x"], "random:N needs a whole number"),
    (["--io-half"], "--io-half needs --precision fp16 or bf16"),
    (["--quantize", "int8", "--calibrate", "random:4", "-O0"], "--quantize needs the optimization passes"),
])
def test_option_errors_are_usage_errors(argv, message, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    rc, _, err = _run(["compile", LENET, "-o", str(out)] + argv, capsys)
    assert rc == 2 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((4, 1, 32, 32), np.float32)}, "the model has no input `images`; its inputs: image"),
    ({}, "no array for input `image`"),
    ({"image": np.zeros((4, 1, 28, 28), np.float32)}, "`image` has shape [4, 1, 28, 28]; "
                                                       "the model's input is [N, 1, 32, 32]"),
    ({"image": np.zeros((4, 32, 32), np.float32)}, "has shape [4, 32, 32]"),
    ({"image": np.zeros((4, 1, 32, 32), np.float64)}, "`image` is float64; the model's input is float32"),
    ({"image": np.zeros((1, 1, 32, 32), np.float32)}, "needs at least 2 samples"),
])
def test_calibration_data_that_does_not_fit_is_a_usage_error(arrays, message, tmp_path, capsys):
    calib = tmp_path / "c.npz"
    if arrays:
        np.savez(calib, **arrays)
    else:
        np.savez(calib, other=np.zeros(3, np.float32))
        message = "the model has no input `other`"
    rc, _, err = _run(["compile", LENET, "--quantize", "int8", "--calibrate", str(calib),
                       "-o", str(tmp_path / "q.onnx")], capsys)
    assert rc == 2 and message in err, err


def test_calibration_data_that_is_not_an_npz(tmp_path, capsys):
    npy = tmp_path / "c.npy"
    np.save(npy, np.zeros((4, 1, 32, 32), np.float32))
    rc, _, err = _run(["compile", LENET, "--quantize", "int8", "--calibrate", str(npy),
                       "-o", str(tmp_path / "q.onnx")], capsys)
    assert rc == 2 and "expected an .npz file with one array per model input" in err
    rc, _, err = _run(["compile", LENET, "--quantize", "int8", "--calibrate", str(tmp_path / "none.npz"),
                       "-o", str(tmp_path / "q.onnx")], capsys)
    assert rc == 2 and "--calibrate" in err and "none.npz" in err


def test_unknown_quantization_and_precision_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compile", LENET, "--precision", "fp8"])
    assert e.value.code == 2 and "invalid choice: 'fp8'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["compile", LENET, "--quantize", "int4", "--calibrate", "random:4"])
    assert e.value.code == 2 and "invalid choice: 'int4'" in capsys.readouterr().err


def _session(path):
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_fp16_keeps_float32_at_the_boundaries_and_agrees(tmp_path, capsys):
    f, h = tmp_path / "f.onnx", tmp_path / "h.onnx"
    assert main(["compile", LENET, "-o", str(f)]) == 0
    rc, text, err = _run(["compile", LENET, "--precision", "fp16", "-o", str(h)], capsys)
    assert rc == 0, err
    assert "precision   fp16" in text
    m = onnx.load(str(h))
    onnx.checker.check_model(m, full_check=True)
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert m.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert {t.data_type for t in m.graph.initializer if t.dims} == {onnx.TensorProto.FLOAT16}
    assert m.graph.node[0].op_type == "Cast" and m.graph.node[-1].op_type == "Cast"
    x = np.random.default_rng(0).standard_normal((4, 1, 32, 32)).astype(np.float32)
    a, b = _session(f).run(None, {"image": x})[0], _session(h).run(None, {"image": x})[0]
    assert b.dtype == np.float32
    assert np.abs(a - b).max() / np.abs(a).max() < 1e-2


def test_io_half_makes_inputs_and_outputs_fp16(tmp_path, capsys):
    h = tmp_path / "h.onnx"
    rc, _, err = _run(["compile", LENET, "--precision", "fp16", "--io-half", "-o", str(h)], capsys)
    assert rc == 0, err
    m = onnx.load(str(h))
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert "Cast" not in {n.op_type for n in m.graph.node}
    y = _session(h).run(None, {"image": np.zeros((1, 1, 32, 32), np.float16)})[0]
    assert y.dtype == np.float16


def test_bf16_without_kernels_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "b.onnx"
    rc, _, err = _run(["compile", LENET, "--precision", "bf16", "-o", str(out)], capsys)
    assert rc == 1
    assert "nndc: error: ONNX opset 21's Conv (node `node:conv1`) has no bf16 form" in err
    assert not out.exists()


def test_bf16_without_an_onnxruntime_kernel_names_the_operator(tmp_path):
    """An MLP is valid bf16 ONNX, but onnxruntime 1.31's CPU has no bf16 Gemm."""
    import nnd
    from nnd.runtime.precision import PrecisionError, check_kernels, convert
    m = nnd.compile(text="model M {\n    input x: [N, 8]\n    output y = x -> Linear(4) as fc -> ReLU\n}\n")
    b = convert(m, "bf16")
    onnx.checker.check_model(b, full_check=True)
    assert b.graph.initializer[0].data_type == onnx.TensorProto.BFLOAT16
    with pytest.raises(PrecisionError, match=r"has no bf16 kernel for Gemm \(opset 13, node `node:fc`\) on cpu"):
        check_kernels(b, "bf16", "cpu")
    check_kernels(convert(m, "fp16"), "fp16", "cpu")   # fp16 Gemm exists: no error


def test_bf16_rounds_to_nearest_even():
    from onnx import numpy_helper
    from nnd.runtime.precision import _half
    a = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3e38], np.float32)   # ties go to even
    t = _half(numpy_helper.from_array(a, "w"), onnx.TensorProto.BFLOAT16)
    back = (np.frombuffer(t.raw_data, np.uint16).astype(np.uint32) << 16).view(np.float32)
    assert back[:4].tolist() == [1.0, 1.0, 1.015625, -2.5]
    assert abs(back[4] - 3e38) / 3e38 < 2 ** -8


def test_check_and_plain_compile_do_not_import_the_quantizer(tmp_path):
    code = ("import sys\nfrom nnd.cli import main\n"
            f"main(['check', {LENET!r}])\n"
            f"main(['compile', {LENET!r}, '-o', {str(tmp_path / 'f.onnx')!r}])\n"
            "print(sorted(m for m in sys.modules if m.startswith('onnxruntime')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
