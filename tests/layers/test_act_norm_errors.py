"""Argument and input errors of the activation and normalization layers:
located diagnostics (code, message, and the argument or call they point at),
never a traceback."""

from __future__ import annotations

import pytest

import nnd


def _diagnose(shape: str, expr: str):
    text = f"model M {{\n    input x: {shape}\n    output y = x -> {expr}\n}}\n"
    res = nnd.check(text=text)
    errors = res.errors
    assert len(errors) == 1, [(d.code, d.message) for d in res.diagnostics]
    return errors[0], text.splitlines()[2]


# (input shape, layer expression, code, message fragment, the text the diagnostic points at)
CASES = [
    ("[N, 6, 4, 4]", "GroupNorm(4)", "E0306", "`num_groups = 4` does not divide the 6 channels", "4"),
    ("[N, 6, 4, 4]", "GroupNorm(num_groups = 0)", "E0107", "`num_groups` must be positive", "num_groups = 0"),
    ("[N, 6, 4, 4]", "GroupNorm(2, eps = -1e-5)", "E0107", "`eps` must be positive", "eps = -1e-5"),
    ("[N, C, 4, 4]", "GroupNorm(2)", "E0305", "concrete number of channels", "GroupNorm(2)"),
    ("[N]", "GroupNorm(1)", "E0310", "`GroupNorm` expects [N, C, ...]", "GroupNorm(1)"),
    ("[N, 8]", "LayerNorm(eps = 0)", "E0107", "`eps` must be positive", "eps = 0"),
    ("[N, 8]", "LayerNorm([7])", "E0311", "normalizes over [7], but the input is [N, 8]", "[7]"),
    ("[N, 8]", "LayerNorm(dims = 3)", "E0107", "`dims = 3` is out of range for [N, 8]", "dims = 3"),
    ("[N, 3, 8]", "LayerNorm(8, dims = 2)", "E0107", "`dims = 2` disagrees with `normalized_shape`", "dims = 2"),
    ("[N, 3, 8]", "LayerNorm([3, 0])", "E0107", "`normalized_shape` must be positive", "[3, 0]"),
    ("[N, S, 8]", "LayerNorm(dims = 2)", "E0305", "concrete normalized dimensions", "LayerNorm(dims = 2)"),
    ("[N, 3, 8]", "InstanceNorm2d", "E0310", "`InstanceNorm2d` expects an input of rank 4", "InstanceNorm2d"),
    ("[N, 3]", "InstanceNorm", "E0310", "expects an input of rank 3 or 4 or 5", "InstanceNorm"),
    ("[N, 3, 8]", "InstanceNorm1d(eps = -1)", "E0107", "`eps` must be positive", "eps = -1"),
    ("[N, 3, 4, 4]", "LocalResponseNorm(0)", "E0107", "`size` must be positive; got 0", "0"),
    ("[N, 8]", "LocalResponseNorm(3)", "E0310", "rank 3 or more", "LocalResponseNorm(3)"),
    ("[N, 6, 2, 2]", "PReLU(num_parameters = 4)", "E0311", "`num_parameters = 4` does not match the 6 channels",
     "num_parameters = 4"),
    ("[N, 6, 2, 2]", "PReLU(channels = true, num_parameters = 3)", "E0311", "does not match the 6 channels",
     "num_parameters = 3"),
    ("[N, 6]", "PReLU(num_parameters = 0)", "E0107", "`num_parameters` must be positive", "num_parameters = 0"),
    ("[N, C, 2]", "PReLU(channels = true)", "E0305", "concrete number of channels", "PReLU(channels = true)"),
    ("[N, 6]", "Softplus(beta = 0)", "E0107", "`beta` must be positive", "beta = 0"),
    ("[N, 6]", "HardTanh(1, -1)", "E0107", "`max_val` (-1.0) is below `min_val` (1.0)", "-1"),
    ("[N, 6]", 'GELU(approximate = "fast")', "E0106", "`approximate` must be one of 'none', 'tanh'",
     'approximate = "fast"'),
    ("[N, 6]", "LeakyReLU(true)", "E0106", "`negative_slope` must be a number", "true"),
]


@pytest.mark.parametrize("shape,expr,code,fragment,at", CASES, ids=[c[1] for c in CASES])
def test_located_diagnostic(shape, expr, code, fragment, at):
    d, line = _diagnose(shape, expr)
    assert d.code == code
    assert fragment in d.message, d.message
    call = line.index(expr)
    # The diagnostic points at the argument (`name = value` when given by
    # name) or, for a problem of the input, at the whole call.
    col = call + expr.rindex(at) + 1
    assert (d.span.line, d.span.column, d.span.end_column) == (3, col, col + len(at)), (d.span, line)


def test_group_norm_help_lists_the_divisors():
    d, _ = _diagnose("[N, 12, 4, 4]", "GroupNorm(5)")
    assert d.help == "the divisors of 12 are 1, 2, 3, 4, 6, 12"


def test_independent_errors_are_all_reported():
    text = ("model M {\n    input x: [N, 6, 4, 4]\n"
            "    output a = x -> GroupNorm(4)\n"
            "    output b = x -> LocalResponseNorm(0)\n"
            "    output c = x -> LayerNorm(eps = 0)\n}\n")
    res = nnd.check(text=text)
    assert [(d.code, d.span.line) for d in res.errors] == [("E0306", 3), ("E0107", 4), ("E0107", 5)]


def test_valid_settings_check_clean():
    text = ("model M {\n    input x: [N, 6, 4, 4]\n"
            "    output y = x -> GroupNorm(3) -> InstanceNorm2d(affine = true) -> LayerNorm(dims = 3)\n"
            "        -> LocalResponseNorm(4) -> PReLU(num_parameters = 6) -> Softplus(0.5, 1)\n"
            "        -> HardTanh(-1, -1) -> GELU(\"tanh\")\n}\n")
    res = nnd.check(text=text)
    assert res.ok, [(d.code, d.message) for d in res.diagnostics]
    shapes = [d["shapes"][0] for _, d in res.ir.g.nodes(data=True) if d["kind"] != "Input"]
    assert all(tuple(map(str, s)) == ("N", "6", "4", "4") for s in shapes)


def test_stated_feature_count_is_checked_not_mistaken_for_eps():
    import nnd
    res = nnd.check(text="model M {\n    input x: [N, 32, 8, 8]\n    output y = x -> BatchNorm2d(64) -> InstanceNorm2d(32)\n}\n")
    (d,) = res.errors
    assert d.code == "E0311"
    assert d.message == "`BatchNorm2d(64)` expects 64 channels, but its input has 32"
    assert (d.span.line, d.span.column) == (3, 33)
    node = next(n for _, n in res.ir.g.nodes(data=True) if n["kind"] == "InstanceNorm2d")
    assert node["attrs"]["eps"] == 1e-5
