"""fuse_flatten_linear_into_gemm."""

from __future__ import annotations

from nnd.passes import fuse_flatten_linear_into_gemm as fuse
from pass_helpers import apply, build, ops


def kinds(ir) -> list:
    return [ir.node(n)["kind"] for n in ir.order()]


def test_flatten_chain_before_linear_collapses():
    ir = build("model T {\n    input x: [N, 3, 4, 5]\n"
               "    output y = x -> Flatten(2) -> Flatten -> Linear(6)\n}\n")
    changed, before, after, opt = apply(ir, fuse)
    assert changed == 1
    assert ops(before) == {"Reshape": 1, "Flatten": 1, "Gemm": 1}
    assert ops(after) == {"Flatten": 1, "Gemm": 1}
    assert kinds(opt) == ["Input", "Flatten", "Linear"]
    flat = next(d for _, d in opt.g.nodes(data=True) if d["kind"] == "Flatten")
    assert flat["attrs"]["start_dim"] == 1


def test_flat_input_feeds_the_gemm_directly():
    ir = build("model T {\n    input x: [N, 6]\n    output y = x -> Flatten -> Flatten -> Linear(3)\n}\n")
    changed, before, after, opt = apply(ir, fuse)
    assert changed == 2
    assert ops(before) == {"Flatten": 2, "Gemm": 1} and ops(after) == {"Gemm": 1}
    assert kinds(opt) == ["Input", "Linear"]


def test_a_flatten_read_elsewhere_stays():
    text = """model T {
    input x: [N, 3, 4, 5]
    f = x -> Flatten(2)
    output z = f
    output y = f -> Flatten -> Linear(6)
}
"""
    ir = build(text)
    changed, _, after, opt = apply(ir, fuse)
    assert changed == 1
    assert ops(after) == {"Reshape": 1, "Flatten": 1, "Gemm": 1}   # Flatten(2) still makes z
    assert [o.name for o in after.graph.output] == ["z", "y"]


def test_one_flatten_of_a_map_stays():
    ir = build("model T {\n    input x: [N, 3, 1, 1]\n    output y = x -> Flatten -> Linear(6)\n}\n")
    changed, before, after, _ = apply(ir, fuse)
    assert changed == 0 and ops(after) == ops(before) == {"Flatten": 1, "Gemm": 1}
