"""`nndc compile --precision fp16|bf16`: the model's weights and compute in
half precision, over the ONNX graph. Inputs and outputs stay float32 (a Cast
at each boundary) unless `io_half`; tensors that an operator requires in
float32 (Resize's scales) stay float32.
"""

from __future__ import annotations

import numpy as np

PRECISIONS = ("fp32", "fp16", "bf16")

# (op, input index) that must stay float32 whatever the compute precision
_KEEP_FLOAT = {("Resize", 2), ("Upsample", 1)}


class PrecisionError(Exception):
    """onnxruntime has no kernel for some operator at the requested precision."""


def _elem(precision: str) -> int:
    from onnx import TensorProto
    return {"fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}[precision]


def _half(t, elem: int):
    """The float32 TensorProto `t` as `elem` (FLOAT16 or BFLOAT16)."""
    from onnx import TensorProto, helper, numpy_helper
    a = numpy_helper.to_array(t).astype(np.float32)
    if elem == TensorProto.FLOAT16:
        out = numpy_helper.from_array(a.astype(np.float16), t.name)
    else:   # bfloat16: the high 16 bits of float32, rounded to nearest even
        bits = a.view(np.uint32).astype(np.uint64)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        out = helper.make_tensor(t.name, TensorProto.BFLOAT16, a.shape, bits.tobytes(), raw=True)
    return out


def convert(model, precision: str, io_half: bool = False):
    """A copy of the float32 ONNX `model` computing in `precision`."""
    import onnx
    from onnx import TensorProto, helper
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision `{precision}`; expected one of {', '.join(PRECISIONS)}")
    m = onnx.ModelProto()
    m.CopyFrom(model)
    if precision == "fp32":
        return m
    elem = _elem(precision)
    g = m.graph
    keep = {n.input[i] for n in g.node for (op, i) in _KEEP_FLOAT if n.op_type == op and len(n.input) > i}
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT and t.name not in keep:
            g.initializer[i].CopyFrom(_half(t, elem))
    for n in g.node:
        for a in n.attribute:
            if a.name == "to" and n.op_type == "Cast" and a.i == TensorProto.FLOAT:
                a.i = elem
            elif a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(_half(a.t, elem))
    inits = {t.name for t in g.initializer}
    casts_in, casts_out = [], []
    for vi in g.input:
        if vi.name in inits or vi.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        if io_half:
            vi.type.tensor_type.elem_type = elem
            continue
        inner = vi.name + "__" + precision
        for n in g.node:
            for k, x in enumerate(n.input):
                if x == vi.name:
                    n.input[k] = inner
        casts_in.append(helper.make_node("Cast", [vi.name], [inner], name=inner + "_cast", to=elem))
    for vo in g.output:
        if vo.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        if io_half:
            vo.type.tensor_type.elem_type = elem
            continue
        inner = vo.name + "__" + precision
        for n in g.node:
            for k, x in enumerate(n.output):
                if x == vo.name:
                    n.output[k] = inner
            for k, x in enumerate(n.input):
                if x == vo.name:
                    n.input[k] = inner
        casts_out.append(helper.make_node("Cast", [inner], [vo.name], name=inner + "_cast",
                                          to=TensorProto.FLOAT))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]     # shapes are re-inferred; their element types changed
    _check_types(m, precision)
    meta = {p.key: p for p in m.metadata_props}
    if "nnd.precision" in meta:
        meta["nnd.precision"].value = precision
    else:
        m.metadata_props.add(key="nnd.precision", value=precision)
    return m


def _check_types(m, precision: str) -> None:
    """PrecisionError when an operator of the model's opset does not take the precision's type."""
    import re

    import onnx
    try:
        onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as e:
        found = re.search(r"op_type:(\w+), node name: ([^)]*)\)", str(e))
        opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), "?")
        if found:
            raise PrecisionError(f"ONNX opset {opset}'s {found.group(1)} (node `{found.group(2)}`) has no "
                                 f"{precision} form") from None
        raise PrecisionError(f"the {precision} model is not valid ONNX: {str(e).strip()}") from None


def check_kernels(model, precision: str, device: str = "cpu") -> None:
    """Raise PrecisionError naming the operators onnxruntime has no `precision`
    kernel for on `device`, found by creating a session (without graph
    optimizations, which could hide a node behind a fused one)."""
    import re

    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 4
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    try:
        ort.InferenceSession(model.SerializeToString(), so, providers=[provider])
    except Exception as e:   # noqa: BLE001 - onnxruntime's NOT_IMPLEMENTED carries the operator
        text = str(e)
        found = re.search(r"implementation for (\w+)\((\d+)\) node with name '([^']*)'", text)
        if found:
            op, ver, node = found.groups()
            raise PrecisionError(f"onnxruntime {ort.__version__} has no {precision} kernel for {op} "
                                 f"(opset {ver}, node `{node}`) on {device}") from None
        raise PrecisionError(f"onnxruntime cannot load the {precision} model on {device}: "
                             f"{text.strip().splitlines()[0] if text.strip() else type(e).__name__}") from None
