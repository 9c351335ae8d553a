"""`nndc compile --quantize int8`: static int8 quantization with onnxruntime's
quantization tools (QDQ format, per-channel weights), and the agreement of
the quantized model with the float one on held-out inputs.

onnxruntime.quantization is imported here only, and only when a model is
quantized: `nndc check` and a plain compile never load it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np

from .inputs import UsageError

METHODS = ("minmax", "entropy", "percentile")
HELD_OUT = 0.25        # the share of calibration samples kept back to measure agreement
MAX_HELD_OUT = 16


@dataclass
class Agreement:
    """How far the quantized model's outputs are from the float model's, per output."""
    output: str
    samples: int
    max_rel: float       # max |q - f| over max |f|
    mean_rel: float      # mean |q - f| over mean |f|
    cosine: float        # the lowest cosine similarity of one sample's outputs
    top1: float | None   # share of samples with the same argmax (outputs shaped [N, classes])


@dataclass
class QuantReport:
    method: str
    calibration: str                 # "DATA.npz (N samples)" or "random (N samples)"
    calibrated: int
    held_out: int
    size_before: int
    size_after: int
    float_nodes: list = field(default_factory=list)   # (node name, op, why) left in float
    agreement: list = field(default_factory=list)     # Agreement per output

    def lines(self) -> list[str]:
        out = [f"quantized to int8 (QDQ, per-channel weights, {self.method} calibration on "
               f"{self.calibrated} samples of {self.calibration})",
               f"size        {_mb(self.size_before)} -> {_mb(self.size_after)} "
               f"({self.size_after / max(self.size_before, 1):.2f}x)"]
        if self.float_nodes:
            out.append(f"left float  {len(self.float_nodes)} node(s):")
            by_why: dict = {}
            for name, op, why in self.float_nodes:
                by_why.setdefault((op, why), []).append(name)
            for (op, why), names in sorted(by_why.items()):
                shown = ", ".join(names[:4]) + (f", ... ({len(names)} in all)" if len(names) > 4 else "")
                out.append(f"  {op}: {shown}: {why}")
        else:
            out.append("left float  none")
        for a in self.agreement:
            top1 = f", top-1 agreement {a.top1 * 100:.1f}%" if a.top1 is not None else ""
            out.append(f"agreement   {a.output} on {a.samples} held-out samples: max rel err {a.max_rel:.4g}, "
                       f"mean rel err {a.mean_rel:.4g}, cosine {a.cosine:.6f} (lowest){top1}")
        return out


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


# ------------------------------------------------------------------ calibration data

def _inputs(model) -> list:
    """(name, numpy dtype, dims with None for symbolic ones) of the model's graph inputs."""
    from onnx import helper
    inits = {t.name for t in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        out.append((vi.name, np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)), dims))
    return out


def calibration_data(spec: str, model, seed: int = 0) -> tuple[list, str]:
    """The calibration samples (a list of feeds, batch 1 each) for `spec`:
    `DATA.npz` (one array per model input, named by it, samples along the
    first axis) or `random:N`. Raises UsageError on data that does not fit."""
    ins = _inputs(model)
    if spec.startswith("random:"):
        n = spec[len("random:"):]
        if not n.isdigit() or int(n) < 2:
            raise UsageError(f"--calibrate random:N needs a whole number N of at least 2; got `{spec}`")
        n = int(n)
        rng = np.random.default_rng(seed)
        arrays = {}
        for name, dt, dims in ins:
            shape = [n] + [d if d is not None else 1 for d in dims[1:]]
            if not np.issubdtype(dt, np.floating):
                raise UsageError(f"--calibrate random: input `{name}` is {dt}, not float; give real data")
            arrays[name] = rng.standard_normal(shape).astype(dt)
        return _split(arrays), f"random ({n} samples)"
    from .inputs import read_arrays
    is_npz, arrays = read_arrays(spec, "--calibrate")
    if not is_npz:
        raise UsageError(f"--calibrate {spec}: expected an .npz file with one array per model input "
                         "(named by it), or random:N")
    names = [n for n, _, _ in ins]
    unknown = [k for k in arrays if k not in names]
    if unknown:
        raise UsageError(f"calibration data {spec}: the model has no input `{unknown[0]}`; "
                         f"its inputs: {', '.join(names)}")
    missing = [n for n in names if n not in arrays]
    if missing:
        raise UsageError(f"calibration data {spec}: no array for input `{missing[0]}` "
                         f"(arrays are named by the model's inputs: {', '.join(names)})")
    count = None
    for name, dt, dims in ins:
        a = arrays[name]
        if a.dtype != dt:
            raise UsageError(f"calibration data {spec}: `{name}` is {a.dtype}; the model's input is {dt}")
        want = "[" + ", ".join(str(d) if d is not None else "N" for d in dims) + "]"
        if a.ndim != len(dims) or any(d is not None and d != s for d, s in zip(dims[1:], a.shape[1:])):
            raise UsageError(f"calibration data {spec}: `{name}` has shape {list(a.shape)}; "
                             f"the model's input is {want} (samples along the first axis)")
        if dims and dims[0] is not None and dims[0] != 1:
            raise UsageError(f"calibration data {spec}: input `{name}` has a fixed batch of {dims[0]}; "
                             "calibration feeds one sample at a time (declare the batch as a symbol, N)")
        if count is not None and a.shape[0] != count:
            raise UsageError(f"calibration data {spec}: `{name}` has {a.shape[0]} samples, "
                             f"the other inputs {count}")
        count = a.shape[0]
    if count is None or count < 2:
        raise UsageError(f"calibration data {spec}: needs at least 2 samples (some are held out "
                         f"to measure agreement); got {count or 0}")
    return _split(arrays), f"{os.path.basename(spec)} ({count} samples)"


def _split(arrays: dict) -> list:
    n = next(iter(arrays.values())).shape[0]
    return [{k: v[i:i + 1] for k, v in arrays.items()} for i in range(n)]


def held_out_count(n: int) -> int:
    return max(1, min(MAX_HELD_OUT, int(round(n * HELD_OUT))))


# ------------------------------------------------------------------ quantization

def quantize(model, samples: list, method: str = "minmax", calibration: str = "") -> tuple:
    """Quantize `model` (an onnx.ModelProto, float) to int8 QDQ, calibrated on
    all but the last held_out_count(len(samples)) samples; returns
    (quantized ModelProto, QuantReport)."""
    if method not in METHODS:
        raise UsageError(f"unknown calibration method `{method}`; expected one of {', '.join(METHODS)}")
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    k = held_out_count(len(samples))
    calib, held = samples[:-k], samples[-k:]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    cm = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
          "percentile": CalibrationMethod.Percentile}[method]
    with tempfile.TemporaryDirectory(prefix="nnd-quant-") as d:
        src, dst = os.path.join(d, "float.onnx"), os.path.join(d, "int8.onnx")
        onnx.save(model, src)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)   # its advice to pre-process: nnd's passes have run
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # uint8 activations, int8 weights: the pairing onnxruntime's x86 kernels are fastest with
                quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                calibrate_method=cm, extra_options={"CalibTensorRangeSymmetric": False})
        finally:
            root.setLevel(level)
        q = onnx.load(dst)
    rep = QuantReport(method=method, calibration=calibration, calibrated=len(calib), held_out=len(held),
                      size_before=model.ByteSize(), size_after=q.ByteSize(),
                      float_nodes=float_nodes(q), agreement=agreement(model, q, held))
    return q, rep


def float_nodes(q) -> list:
    """(name, op, why) of the compute nodes of QDQ model `q` that onnxruntime
    runs in float: those not between DequantizeLinear inputs and QuantizeLinear
    outputs (the pattern it fuses into an int8 kernel)."""
    from onnxruntime.quantization.registry import QDQRegistry
    inits = {t.name for t in q.graph.initializer}
    produced = {o: n.op_type for n in q.graph.node for o in n.output}
    users: dict = {}
    for n in q.graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n.op_type)
    outputs = {o.name for o in q.graph.output}
    skip = {"QuantizeLinear", "DequantizeLinear", "Constant", "Shape", "Reshape", "Flatten",
            "Transpose", "Squeeze", "Unsqueeze", "Identity", "Cast"}
    out = []
    for n in q.graph.node:
        if n.op_type in skip:
            continue
        ins = [i for i in n.input if i and i not in inits]
        dq_in = all(produced.get(i) == "DequantizeLinear" for i in ins)
        q_out = all(o not in outputs and users.get(o) and all(u == "QuantizeLinear" for u in users[o])
                    for o in n.output if o)
        if dq_in and q_out:
            continue
        if n.op_type not in QDQRegistry:
            why = "onnxruntime's quantizer has no int8 form of it"
        elif not dq_in:
            why = "its input is not quantized (it follows a float node)"
        else:
            why = "its output stays float (a model output, or read by a float node)"
        out.append((n.name or n.output[0], n.op_type, why))
    return out


def _session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def agreement(fmodel, qmodel, held: list) -> list:
    """Agreement per output between the float and the quantized model on `held` feeds."""
    fs, qs = _session(fmodel), _session(qmodel)
    names = [o.name for o in fs.get_outputs()]
    per = {n: ([], []) for n in names}
    for feeds in held:
        for n, f, q in zip(names, fs.run(None, feeds), qs.run(None, feeds)):
            per[n][0].append(np.asarray(f, np.float64))
            per[n][1].append(np.asarray(q, np.float64))
    return [compare(n, np.concatenate(f), np.concatenate(q)) for n, (f, q) in per.items()]


def compare(name: str, f: np.ndarray, q: np.ndarray) -> Agreement:
    """Agreement of `q` with the reference `f`, both with samples along axis 0."""
    f, q = np.asarray(f, np.float64), np.asarray(q, np.float64)
    d = np.abs(q - f)
    max_rel = float(d.max(initial=0.0) / max(float(np.abs(f).max(initial=0.0)), 1e-12))
    mean_rel = float(d.mean() / max(float(np.abs(f).mean()), 1e-12)) if f.size else 0.0
    ff, qq = f.reshape(len(f), -1), q.reshape(len(q), -1)
    nf, nq = np.linalg.norm(ff, axis=1), np.linalg.norm(qq, axis=1)
    cos = np.where((nf == 0) & (nq == 0), 1.0, (ff * qq).sum(1) / np.maximum(nf * nq, 1e-30))
    top1 = None
    if f.ndim == 2 and f.shape[1] > 1:
        top1 = float((f.argmax(1) == q.argmax(1)).mean())
    return Agreement(name, len(f), max_rel, mean_rel, float(cos.min(initial=1.0)), top1)
