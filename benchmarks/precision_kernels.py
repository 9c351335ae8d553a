"""Which operators onnxruntime's CPU provider runs in fp16 and bf16: one
single-node model per operator nnd emits, at the opset nnd emits, loaded with
graph optimizations off. Prints a Markdown table (docs/deploy.md has it).

    python benchmarks/precision_kernels.py
"""

from __future__ import annotations

import math

import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

OPSET = 21
X = [1, 4, 8, 8]
# op -> (attributes, input shapes, extra float initializers' shapes, int64 initializers)
OPS = {
    "Conv": ({"kernel_shape": [3, 3]}, [X], [[4, 4, 3, 3]], {}),
    "Gemm": ({"transB": 1}, [[2, 8]], [[4, 8]], {}),
    "MatMul": ({}, [[2, 8]], [[8, 4]], {}),
    "Add": ({}, [X, X], [], {}),
    "Mul": ({}, [X, X], [], {}),
    "Relu": ({}, [X], [], {}),
    "Tanh": ({}, [X], [], {}),
    "Sigmoid": ({}, [X], [], {}),
    "Gelu": ({}, [X], [], {}),
    "Softmax": ({"axis": 1}, [X], [], {}),
    "MaxPool": ({"kernel_shape": [2, 2]}, [X], [], {}),
    "AveragePool": ({"kernel_shape": [2, 2]}, [X], [], {}),
    "GlobalAveragePool": ({}, [X], [], {}),
    "BatchNormalization": ({}, [X], [[4], [4], [4], [4]], {}),
    "LayerNormalization": ({"axis": -1}, [X], [[8], [8]], {}),
    "Concat": ({"axis": 1}, [X, X], [], {}),
    "Flatten": ({}, [X], [], {}),
    "Reshape": ({}, [X], [], {"shape": [1, -1]}),
    "Transpose": ({"perm": [0, 2, 3, 1]}, [X], [], {}),
}


def _model(op: str, elem: int, out=None):
    attrs, shapes, weights, ints = OPS[op]
    ins = [helper.make_tensor_value_info(f"x{i}", elem, s) for i, s in enumerate(shapes)]
    inits = [helper.make_tensor(f"w{i}", elem, s, [0.5] * math.prod(s)) for i, s in enumerate(weights)]
    inits += [helper.make_tensor(k, TensorProto.INT64, [len(v)], v) for k, v in ints.items()]
    node = helper.make_node(op, [v.name for v in ins] + [t.name for t in inits], ["y"], **attrs)
    g = helper.make_graph([node], "g", ins, [out] if out is not None else [], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)


def probe(op: str, elem: int) -> str:
    # the output's shape from float32, where every operator is defined
    y = onnx.shape_inference.infer_shapes(_model(op, TensorProto.FLOAT)).graph.value_info[0]
    y.type.tensor_type.elem_type = elem
    m = _model(op, elem, y)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception:   # noqa: BLE001 - the operator's type constraint leaves the type out
        return "no (not in ONNX)"
    so = ort.SessionOptions()
    so.log_severity_level = 4
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:   # noqa: BLE001
        return "no kernel" if "NOT_IMPLEMENTED" in str(e) or "implementation" in str(e) else "error"
    return "yes"


def main() -> None:
    print(f"onnxruntime {ort.__version__}, CPUExecutionProvider, opset {OPSET}\n")
    print("| operator | fp16 | bf16 |")
    print("| --- | --- | --- |")
    for op in OPS:
        print(f"| {op} | {probe(op, TensorProto.FLOAT16)} | {probe(op, TensorProto.BFLOAT16)} |")


if __name__ == "__main__":
    main()
