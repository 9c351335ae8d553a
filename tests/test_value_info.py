"""The compiled ONNX carries value_info for the tensors between layers (the
shapes Netron shows on edges), as onnx's own shape inference finds them."""

import os

import onnx
import pytest

import nnd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dims(v):
    t = v.type.tensor_type
    return [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim], t.elem_type


@pytest.mark.parametrize("name", ["resnet50.nnd", "googlenet.nnd", "wide_deep.nnd", "lenet5.nnd"])
def test_intermediate_edges_have_value_info_that_shape_inference_agrees_with(name):
    m = nnd.compile(os.path.join(ROOT, "examples", name))
    onnx.checker.check_model(m, full_check=True)
    ours = {v.name: dims(v) for v in m.graph.value_info}
    io = {v.name for v in list(m.graph.input) + list(m.graph.output)}
    inits = {i.name for i in m.graph.initializer}
    assert not (set(ours) & (io | inits))
    produced = {o for n in m.graph.node for o in n.output}
    assert set(ours) <= produced            # only tensors that survive the passes
    del m.graph.value_info[:]
    inferred = {v.name: dims(v) for v in onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.value_info}
    assert ours and all(ours[k] == inferred[k] for k in ours), \
        [(k, ours[k], inferred.get(k)) for k in ours if ours[k] != inferred.get(k)][:3]


def test_resnet_edges_carry_symbolic_batch_and_known_sizes():
    m = nnd.compile(os.path.join(ROOT, "examples", "resnet50.nnd"))
    vi = {v.name: dims(v) for v in m.graph.value_info}
    # every layer's output in the optimized graph (BatchNorm is folded into the conv before it)
    assert vi["layer1.0.relu_2"] == (["N", 256, 56, 56], onnx.TensorProto.FLOAT)
    assert vi["flatten_0"] == (["N", 2048], onnx.TensorProto.FLOAT)
    again = nnd.compile(os.path.join(ROOT, "examples", "resnet50.nnd"))
    assert again.SerializeToString(deterministic=True) == m.SerializeToString(deterministic=True)
