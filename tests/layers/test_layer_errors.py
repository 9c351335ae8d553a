"""Shape rules of the resampling and reshaping layers: each bad argument is a
located diagnostic with its code, a message that names the numbers, and the
span of the argument to blame (or of the layer call when no one argument is)."""

from __future__ import annotations

import pytest

import nnd


def _diag(layer: str, shape: str = "[N, 3, 8, 8]"):
    text = f"model T {{\n    input x: {shape}\n    output y = x -> {layer}\n}}\n"
    res = nnd.check(text=text)
    assert len(res.errors) == 1, [d.message for d in res.errors]
    d = res.errors[0]
    assert d.span.line == 3
    return d, text.splitlines()[2]


def _at(d, line: str) -> str:
    """The source text the diagnostic points at."""
    return line[d.span.column - 1:d.span.end_column - 1]


@pytest.mark.parametrize("layer,code,arg,words", [
    ("ConvTranspose2d(4, 3, stride = 2, output_padding = 2)", "E0107", "output_padding = 2",
     ["smaller than the stride or the dilation", "output_padding 2", "stride 2"]),
    ("ConvTranspose2d(4, 3, output_padding = -1)", "E0107", "output_padding = -1", ["cannot be negative"]),
    ("ConvTranspose2d(4, 0)", "E0107", "0", ["`kernel_size` must be positive"]),
    ("ConvTranspose2d(4, 3, stride = (2, 0))", "E0107", "stride = (2, 0)", ["`stride` must be positive"]),
    ("ConvTranspose2d(4, 3, padding = 9)", "E0304", "padding = 9", ["size -8", "removes 18 of the 10"]),
    ("ConvTranspose2d(4, 3, padding = \"same\")", "E0107", "padding = \"same\"", ["\"same\""]),
    ("ConvTranspose2d(4, 3, groups = 2)", "E0306", "groups = 2", ["does not divide the 3 input channels"]),
    ("ConvTranspose3d(4, 3)", "E0310", None, ["[N, C, D, H, W]", "[N, 3, 8, 8]"]),
    ("SumPool2d(0)", "E0107", "0", ["`kernel_size` must be positive"]),
    ("MinPool2d(2, stride = 0)", "E0107", "stride = 0", ["`stride` must be positive"]),
    ("SumPool2d(3, padding = 2)", "E0107", "padding = 2", ["at most half the kernel"]),
    ("AdaptiveMaxPool2d(0)", "E0107", "0", ["`output_size` must be positive"]),
    ("AdaptiveAvgPool1d(3)", "E0310", None, ["[N, C, W]"]),
    ("Upsample(size = 3, scale_factor = 2)", "E0107", "size = 3", ["not both"]),
    ("Upsample", "E0104", None, ["needs `scale_factor` or `size`"]),
    ("Upsample(scale_factor = 0.1)", "E0304", "scale_factor = 0.1", ["size 0", "8 x 0.1"]),
    ("Upsample(scale_factor = (2, -1))", "E0107", "scale_factor = (2, -1)", ["must be positive"]),
    ("Upsample(scale_factor = 2, align_corners = true)", "E0107", "align_corners = true",
     ["only applies to the interpolating modes"]),
    ("Upsample(scale_factor = 2, mode = \"trilinear\")", "E0107", "mode = \"trilinear\"",
     ["needs 3 spatial dimensions", "has 2"]),
    ("Pad(2, mode = \"reflect\", value = 1)", "E0107", "value = 1", ["only applies to mode \"constant\""]),
    ("Pad((1, 2, 3))", "E0107", "(1, 2, 3)", ["3 values", "2 spatial dimensions"]),
    ("Pad([(0, 8), (1, 1)], mode = \"reflect\")", "E0107", "[(0, 8), (1, 1)]", ["reflect padding of 8"]),
    ("Dropout2d(1.0, mc = true)", "E0107", "1.0", ["[0, 1)"]),
    ("Dropout1d(0.1)", "E0310", None, ["`Dropout1d` expects [N, C, W]"]),
    ("Conv2d(4, 3, padding = 9, padding_mode = \"circular\")", "E0107", "padding = 9",
     ["circular padding of 9", "it is 8"]),
    ("PixelShuffle(2)", "E0311", "2", ["divisible by 2 x 2 = 4", "[N, 3, 8, 8] has 3"]),
    ("PixelShuffle(0)", "E0107", "0", ["`upscale_factor` must be positive"]),
    ("PixelUnshuffle(downscale_factor = 3)", "E0311", "downscale_factor = 3", ["height divisible by 3", "has 8"]),
    ("ChannelShuffle(2)", "E0306", "2", ["`groups = 2` does not divide the 3 channels"]),
    ("ChannelShuffle(0)", "E0107", "0", ["`groups` must be positive"]),
    ("StochasticDepth(1.5)", "E0107", "1.5", ["in [0, 1]; got 1.5"]),
    ("LayerNorm2d(4)", "E0311", "4", ["normalizes 4 channels", "its input has 3"]),
])
def test_argument_diagnostics(layer, code, arg, words):
    d, line = _diag(layer)
    assert d.code == code, d.message
    assert _at(d, line) == (arg if arg is not None else layer), d.message
    for w in words:
        assert w in d.message, d.message


@pytest.mark.parametrize("layer,shape,words", [
    ("PixelShuffle(2)", "[N, 2, 4, 8, 8]", ["[N, C, H, W] or [C, H, W]"]),
    ("ChannelShuffle(2)", "[N, 4]", ["rank 3 or more"]),
    ("LayerNorm2d", "[N]", ["[N, C, ...]"]),
    ("Linear(3)", "[]", ["got a scalar"]),
])
def test_rank_diagnostics(layer, shape, words):
    d, line = _diag(layer, shape)
    assert d.code == "E0310" and _at(d, line) == layer
    for w in words:
        assert w in d.message, d.message


def test_reshape_element_counts():
    d, line = _diag("Reshape([16, 24])", "[N, 400]")
    assert (d.code, _at(d, line)) == ("E0311", "[16, 24]")
    assert "[N, 400] to [N, 16, 24]" in d.message and "400" in d.message and "384" in d.message
    d, line = _diag("Reshape([16, -1, 7])", "[N, 400]")
    assert (d.code, _at(d, line)) == ("E0311", "[16, -1, 7]")
    assert "400" in d.message and "112" in d.message
    d, line = _diag("Reshape((-1, -1))", "[N, 400]")
    assert (d.code, _at(d, line)) == ("E0107", "(-1, -1)")
    d, line = _diag("Reshape((0, 400))", "[N, 400]")
    assert (d.code, _at(d, line)) == ("E0107", "(0, 400)")


def test_reshape_of_an_open_size_needs_a_minus_one():
    d, line = _diag("Reshape((3, 64))", "[N, 3, H, 8]")
    assert d.code == "E0305" and "-1" in d.help
    res = nnd.check(text="model T {\n    input x: [N, 3, H, 8]\n    output y = x -> Reshape((3, -1, 2))\n}\n")
    assert res.ok and [str(d) for d in res.ir.node(res.ir.outputs[0].node)["shapes"][0]] == \
        ["N", "3", "4*H", "2"]


def test_upsample_refuses_a_scale_that_torch_and_onnx_round_differently():
    # 50 * 2.3 is 114.99999999999999 in double precision: PyTorch makes 114.
    d, line = _diag("Upsample(scale_factor = 2.3)", "[N, 3, 50]")
    assert (d.code, _at(d, line)) == ("E0311", "scale_factor = 2.3")
    assert "114" in d.message and "115" in d.message and "size" in d.help


def test_open_sizes_need_concrete_ones_where_the_window_depends_on_them():
    d, line = _diag("AdaptiveMaxPool2d((1, 2))", "[N, 3, H, W]")
    assert d.code == "E0305" and "`W`" in d.message
    d, line = _diag("SumPool2d(3, ceil_mode = true)", "[N, 3, H, 8]")
    assert (d.code, _at(d, line)) == ("E0305", "ceil_mode = true")
    d, line = _diag("Upsample(scale_factor = 1.5)", "[N, 3, H, 8]")
    assert (d.code, _at(d, line)) == ("E0305", "scale_factor = 1.5")


def test_bicubic_upsample_that_keeps_the_size_is_refused():
    # onnxruntime copies a Resize whose output shape is its input's; PyTorch's
    # bicubic kernel resamples by 1 / 1.1 all the same.
    d, line = _diag("Upsample(scale_factor = 1.1, mode = \"bicubic\")", "[N, 3, 5, 5]")
    assert (d.code, _at(d, line)) == ("E0311", "scale_factor = 1.1")
    assert "[5, 5]" in d.message and "bicubic" in d.message
