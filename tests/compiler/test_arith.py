"""Tensor arithmetic and compile-time math: `**` and `@`, numbers with
tensors, the conditional expression, `let` functions, `max`/`min` on numbers
and tensors, and values computed through onnxruntime against numpy/torch."""

import math
import random

import numpy as np
import pytest

import nnd
import nnd.api
from nnd.parser import parse_expression
from nnd.shapes import fmt_shape


def holds(cond, prelude=""):
    """Whether a compile-time condition is true (it picks a Linear's width)."""
    src = prelude + f"model M {{\n    input x: [N, 4]\n    output y = x -> Linear(1 if {cond} else 2)\n}}\n"
    res = nnd.check(text=src)
    assert res.ok, [d.message for d in res.diagnostics]
    return res.ir.node(res.ir.outputs[0].node)["shapes"][0][1] == 1


def value(expr, prelude=""):
    """A compile-time integer, read back as a Linear's width (an int parameter: a float is refused)."""
    src = prelude + f"model M {{\n    input x: [N, 4]\n    output y = x -> Linear(({expr}) + 10000)\n}}\n"
    res = nnd.check(text=src)
    assert res.ok, [d.message for d in res.diagnostics]
    return res.ir.node(res.ir.outputs[0].node)["shapes"][0][1] - 10000


def diags(src):
    return [(d.code, d.message, d.span.line, d.span.column) for d in nnd.check(text=src).diagnostics]


def test_power_binds_tighter_than_unary_minus_and_to_the_right():
    n = parse_expression("-x ** 2", "t")
    assert type(n).__name__ == "Neg" and n.operand.op == "**"
    n = parse_expression("a * b ** c ** d", "t")
    assert n.op == "*" and n.right.op == "**" and n.right.right.op == "**"
    assert [value(e) for e in ["2 ** 10", "-2 ** 2", "2 ** 3 ** 2", "(-2) ** 2"]] == [1024, -4, 512, 4]
    assert holds("2 ** -1 == 0.5") and holds("4 ** 0.5 == 2")


def test_power_errors():
    pre = "model M {\n    input x: [N, 4]\n    let v = "
    assert diags(pre + "2 ** 64\n    output y = x\n}\n")[0][0] == "E0123"
    assert diags(pre + "0 ** -1\n    output y = x\n}\n")[0][0] == "E0118"
    assert diags(pre + "(-8) ** 0.5\n    output y = x\n}\n")[0][:2] == ("E0117", "-8 ** 0.5 is not a real number")


def test_compile_time_math_on_numbers():
    assert [value(e) for e in ["floor(2.7)", "ceil(2.1)", "round(2.5)", "round(3.5)", "abs(-3)", "max(3, 4)",
                               "min([5, 2, 9])", "int(sqrt(64))"]] == [2, 3, 2, 4, 3, 4, 2, 8]
    assert holds("sqrt(64) == 8.0 and log(1) == 0 and exp(0) == 1 and abs(-2.5) == 2.5")
    pre = "model M {\n    input x: [N, 4]\n    let v = "
    assert diags(pre + "log(0)\n    output y = x\n}\n") == [("E0107", "`log` of a number that is not positive (0)",
                                                             3, 17)]
    # the numbers builtins keep their messages
    assert diags(pre + "max()\n    output y = x\n}\n")[0][:2] == ("E0117", "`max` takes numbers")


def test_conditional_expression_evaluates_one_side():
    assert value("1 if 2 > 1 else 1 // 0") == 1
    assert value("1 // 0 if false else 7 if false else 8") == 8


MAKE_DIVISIBLE = """let round_to(v, d, m) = max(m, int(v + d / 2) // d * d)
let make_divisible(v, divisor = 8, min_value = divisor) =
    round_to(v, divisor, min_value) + (divisor if round_to(v, divisor, min_value) < 0.9 * v else 0)
"""


def _torchvision_make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def test_make_divisible_matches_torchvision():
    rng = random.Random(0)
    cases = [(rng.choice([3, 7, 16, 24, 37, 96, 1000]) * rng.choice([0.25, 0.5, 0.75, 1.0, 1.4]),
              rng.choice([4, 8, 16])) for _ in range(40)] + [(10, 8), (15, 16), (1, 8)]
    exprs = ", ".join(f"make_divisible({v}, {d})" for v, d in cases)
    want = ", ".join(str(_torchvision_make_divisible(v, d)) for v, d in cases)
    assert holds(f"[{exprs}] == [{want}]", MAKE_DIVISIBLE)
    assert not holds(f"[{exprs}] == [{want}, 1]", MAKE_DIVISIBLE)
    assert value("make_divisible(37.5, 8, min_value = 48)", MAKE_DIVISIBLE) == 48


def test_let_functions_recursion_defaults_and_errors():
    pre = "let fact(n) = 1 if n <= 1 else n * fact(n - 1)\nlet f(a, b = a + 1) = a * b\n"
    assert [value(e, pre) for e in ["fact(10)", "f(3)", "f(3, b = 5)", "f(b = 2, a = 4)"]] == [3628800, 12, 15, 8]
    src = pre + "model M {\n    input x: [N, 4]\n    let v = f(1, 2, 3)\n    let w = f(c = 1)\n" \
        "    let z = f()\n    output y = x\n}\n"
    assert [d[:2] for d in diags(src)] == [("E0105", "`f` takes at most 2 arguments; got 3"),
                                           ("E0103", "`f` has no parameter `c`"), ("E0104", "`f` needs `a`")]
    # a function defined inside a body sees the names there
    src = "model M {\n    input x: [N, 4]\n    let k = 3\n    let g(a) = a + k\n" \
          "    output y = x -> Linear(g(2))\n}\n"
    res = nnd.check(text=src)
    assert res.ok and fmt_shape(res.ir.node(res.ir.outputs[0].node)["shapes"][0]) == "[N, 5]"


def _out_shapes(body, inputs="    input x: [N, 4, 8]\n    input w: [8, 5]\n"):
    res = nnd.check(text="model M {\n" + inputs + body + "}\n")
    assert res.ok, [d.message for d in res.diagnostics]
    return [fmt_shape(res.ir.node(o.node)["shapes"][o.port]) for o in res.ir.outputs]


def test_shapes_of_tensor_operations():
    assert _out_shapes("    output a = x @ w\n    output b = x.mean(-1)\n    output c = max(x, axis = (1, 2))\n"
                       "    output d = x -> sum(keepdim = true)\n    output e = -x ** 2 / 3\n"
                       "    output f = x -> max\n    output g = x.matmul(w)\n") == \
        ["[N, 4, 5]", "[N, 4]", "[N]", "[1, 1, 1]", "[N, 4, 8]", "[]", "[N, 4, 5]"]


def _run(body, feeds, inputs):
    ir, _ = nnd.api.build(text="model M {\n" + inputs + body + "}\n", seed=0, optimize=False)
    from nnd.lower import lower
    from helpers import run_onnx
    return run_onnx(lower(ir), feeds)


def test_values_of_tensor_arithmetic_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y = (np.abs(rng.standard_normal((4,))) + 0.5).astype(np.float32)
    w = rng.standard_normal((4, 5)).astype(np.float32)
    m = rng.standard_normal((3, 3)).astype(np.float32)
    got = _run("    output a = -x ** 2 + 1 - x / sqrt(16) * 0.5\n    output b = 1 - x / y\n"
               "    output c = (x @ w).max(axis = (0, 2), keepdim = true)\n    output d = 2 ** x.clamp(max = 1)\n"
               "    output e = scaled_dot_product_attention(x, x, x, attn_mask = m)\n"
               "    output f = x.softmax(-1).log_softmax(axis = 1).exp().rsqrt()\n",
               {"x": x, "y": y, "w": w, "m": m},
               "    input x: [2, 3, 4]\n    input y: [4]\n    input w: [4, 5]\n    input m: [3, 3]\n")
    tx, ty, tw, tm = (torch.from_numpy(v) for v in (x, y, w, m))
    F = torch.nn.functional
    want = [-tx ** 2 + 1 - tx / 4 * 0.5, 1 - tx / ty, torch.amax(tx @ tw, dim=(0, 2), keepdim=True),
            2 ** tx.clamp(max=1), F.scaled_dot_product_attention(tx, tx, tx, attn_mask=tm),
            torch.rsqrt(torch.exp(torch.log_softmax(torch.softmax(tx, -1), 1)))]
    for g, t in zip(got, want):
        np.testing.assert_allclose(g, t.numpy(), rtol=1e-5, atol=1e-6)


def test_shape_diagnostics_of_tensor_operations():
    inputs = "    input x: [N, 4, 8]\n    input w: [6, 5]\n"
    src = "model M {\n" + inputs + "    output y = x @ w\n    output z = scaled_dot_product_attention(x, w, w)\n}\n"
    assert [d[:2] for d in diags(src)] == [
        ("E0313", "cannot multiply matrices: [N, 4, 8] and [6, 5] (size 8 against 6)"),
        ("E0313", "the query and key sizes differ: [N, 4, 8] and [6, 5] (size 8 against 5)")]
    src = "model M {\n    input x: [N, 4]\n    output y = scaled_dot_product_attention(x, x, x, attn_mask = x, " \
          "is_causal = true)\n}\n"
    assert diags(src)[0][:2] == ("E0107", "give an `attn_mask` or `is_causal = true`, not both")
