"""Moving data: the tensor functions of compiler/layers/movement.py, `x[...]`,
and sizes known only at run time (symbolic sizes computed from the inputs'
shapes in the ONNX graph), run at two input sizes against PyTorch."""

import textwrap

import numpy as np
import pytest

import nnd
from helpers import rel_err, run_onnx
from nnd.shapes import fmt_shape

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _model(body, inputs="input x: [N, 3, H, W]"):
    return "model M {\n" + textwrap.indent(textwrap.dedent(inputs + "\n" + body), "    ") + "}\n"


def shapes(body, inputs="input x: [N, 3, H, W]"):
    res = nnd.check(text=_model(body, inputs))
    assert res.ok, [d.message for d in res.diagnostics]
    return [fmt_shape(res.ir.node(o.node)["shapes"][o.port]) for o in res.ir.outputs]


def diagnostics(body, inputs="input x: [N, 3, H, W]"):
    res = nnd.check(text=_model(body, inputs))
    return [(d.code, d.message, d.span.line, d.span.column) for d in res.diagnostics]


def run(body, feeds, inputs="input x: [N, 3, H, W]"):
    model = nnd.compile(text=_model(body, inputs), optimize=False)
    import onnx
    onnx.checker.check_model(model, full_check=True)
    return run_onnx(model, {k: v.numpy() for k, v in feeds.items()})


@pytest.mark.parametrize("expr,want", [
    ("x[:, 0]", "[N, H, W]"), ("x[:, :, 2:-2, 2:-2]", "[N, 3, H - 4, W - 4]"), ("x[..., :3]", "[N, 3, H, 3]"),
    ("x[:, ::2]", "[N, 2, H, W]"), ("x[-1]", "[3, H, W]"), ("x[:, 1:, 0, ...]", "[N, 2, W]"),
    ("x[...]", "[N, 3, H, W]"), ("x.reshape(x.shape[0], -1, 3)", "[N, H*W, 3]"), ("x.flatten()", "[3*N*H*W]"),
    ("x.flatten(1)", "[N, 3*H*W]"), ("x.permute((0, 2, 3, 1))", "[N, H, W, 3]"), ("x.unsqueeze(-1)", "[N, 3, H, W, 1]"),
    ("x[:, :1].squeeze(1)", "[N, H, W]"), ("x.transpose(1, -1)", "[N, W, H, 3]"),
    ("crop(x, size = (2, 3))", "[N, 3, 2, 3]"),
])
def test_shapes(expr, want):
    assert shapes(f"output o = {expr}\n") == [want]


def test_compile_time_slices():
    assert shapes("let s = x.shape[2:]\noutput o = x.reshape(x.shape[0], 3, len(s), s[0] * s[1] // 4, 2)\n",
                  "input x: [N, 3, 4, 8]") == ["[N, 3, 2, 8, 2]"]
    assert shapes("let s = [1, 2, 3, 4, 5][::2]\noutput o = x.expand(s[0] * 2, -1)\n", "input x: [1, 4]") == ["[2, 4]"]


@pytest.mark.parametrize("body,code,col", [
    ("output o = x[:, 3]\n", "E0120", 21),
    ("output o = x[0, 0, 0, 0, 0]\n", "E0120", 16),
    ("output o = x[:, ::0]\n", "E0107", 23),
    ("output o = x.permute(0, 1, 1, 2)\n", "E0107", 26),
    ("output o = x.expand(2, 4, -1, -1)\n", "E0311", 25),
    ("output o = x.reshape(7, -1)\n", "E0311", 26),
])
def test_located_errors(body, code, col):
    (d,) = diagnostics(body, "input x: [2, 3, 4, 5]")
    assert (d[0], d[2], d[3]) == (code, 3, col), d


def _feeds(n, h, w):
    g = torch.Generator().manual_seed(h * 100 + w)
    return {"x": torch.randn(n, 3, h, w, generator=g)}


@pytest.mark.parametrize("size", [(2, 9, 12), (1, 14, 7)])
def test_symbolic_slicing_and_moves_at_two_sizes(size):
    feeds = _feeds(*size)
    x = feeds["x"]
    body = """\
        output a = x[:, 0]
        output b = x[..., 2:-2, ::2]
        output c = x.reshape(x.shape[0], -1, 3)
        output d = x.flatten(1).unsqueeze(1).expand(-1, 2, -1)
        output e = x[:, :, 1:-1, -3].transpose(1, 2)
        output f = crop(x, size = (5, 4))
        """
    got = run(body, feeds)
    want = [x[:, 0], x[..., 2:-2, ::2], x.reshape(x.shape[0], -1, 3), x.flatten(1).unsqueeze(1).expand(-1, 2, -1),
            x[:, :, 1:-1, -3].transpose(1, 2),
            x[:, :, (x.shape[2] - 5) // 2:(x.shape[2] - 5) // 2 + 5, (x.shape[3] - 4) // 2:(x.shape[3] - 4) // 2 + 4]]
    for g, w_ in zip(got, want):
        assert rel_err(g, w_.numpy()) <= 1e-6


@pytest.mark.parametrize("size", [(1, 16, 20), (2, 24, 12)])
def test_upsample_to_a_symbolic_size_fpn(size):
    """An FPN's top-down path: the coarse map resized to the lateral's size, known at run time."""
    feeds = _feeds(*size)
    body = """\
        lateral = x -> Conv2d(4, 3, padding = 1)
        coarse = lateral -> MaxPool2d(2) -> MaxPool2d(2)
        output o = coarse -> Upsample(size = lateral.shape[2:], mode = "bilinear")
        output p = coarse -> Upsample(size = lateral.shape[2:])
        """
    assert shapes(body) == ["[N, 4, H, W]", "[N, 4, H, W]"]
    model = nnd.compile(text=_model(body), optimize=False)
    got = run_onnx(model, {"x": feeds["x"].numpy()})
    lat = run_onnx(nnd.compile(text=_model("output o = x -> Conv2d(4, 3, padding = 1)\n"), optimize=False),
                   {"x": feeds["x"].numpy()})[0]
    lat = torch.from_numpy(lat)
    coarse = F.max_pool2d(F.max_pool2d(lat, 2), 2)
    want = [F.interpolate(coarse, size=lat.shape[2:], mode="bilinear"), F.interpolate(coarse, size=lat.shape[2:])]
    for g, w_ in zip(got, want):
        assert g.shape == tuple(w_.shape) and rel_err(g, w_.numpy()) <= 1e-5


@pytest.mark.parametrize("size", [(1, 20, 22), (2, 29, 17)])
def test_unet_crop_to_a_symbolic_size(size):
    """Valid convolutions: the encoder's map center-cropped to the decoder's size, offsets computed at run time."""
    feeds = _feeds(*size)
    body = """\
        enc = x -> Conv2d(4, 3) -> ReLU
        dec = enc -> Conv2d(4, 3) -> Conv2d(4, 3)
        output o = concat(crop(enc, dec), dec, axis = 1)
        output p = enc.crop(dec)
        """
    assert shapes(body) == ["[N, 8, H - 6, W - 6]", "[N, 4, H - 6, W - 6]"]
    got = run(body, feeds)
    enc = torch.from_numpy(run(body.replace("output o = concat(crop(enc, dec), dec, axis = 1)\n", "")
                               .replace("output p = enc.crop(dec)", "output e = enc"), feeds)[0])
    h, w = enc.shape[2] - 4, enc.shape[3] - 4
    assert np.allclose(got[1], enc[:, :, 2:2 + h, 2:2 + w].numpy())


def test_symbolic_atoms_are_computed_at_run_time():
    """An odd size halved ((H - 1) // 2 + 1, an opaque atom) then used as a reshape size."""
    body = """\
        y = x -> Conv2d(3, 3, stride = 2, padding = 1)
        output o = y.reshape(y.shape[0], y.shape[2], -1)
        """
    assert shapes(body) == ["[N, (H - 1) // 2 + 1, 3*((W - 1) // 2) + 3]"]
    for size in [(1, 9, 6), (2, 10, 7)]:
        (got,) = run(body, _feeds(*size))
        assert got.shape == (size[0], (size[1] - 1) // 2 + 1, 3 * ((size[2] - 1) // 2 + 1))


def test_rounded_up_sizes_are_computed_at_run_time():
    """A ceil-mode pooling gives `ceil((H - 2) / 2) + 1`, a rounded-up atom;
    a reshape by it computes the size from the input's shape at run time."""
    body = """\
        y = x -> MaxPool2d(2, ceil_mode = true)
        output o = y.reshape(y.shape[0], y.shape[2], -1)
        """
    assert shapes(body) == ["[N, ceil((H - 2) / 2) + 1, 3*ceil((W - 2) / 2) + 3]"]
    for size in [(1, 9, 6), (2, 10, 7)]:
        (got,) = run(body, _feeds(*size))
        assert got.shape == (size[0], -(-size[1] // 2), 3 * -(-size[2] // 2))


SPLIT = """\
    h1, h2 = split(x, 2, axis = 2)
    y = concat(x, x, axis = 1)
    c1, c2 = y -> Split(2)
    w1, w2, w3 = x -> split(3, axis = -1)
    output a = h1
    output b = h2
    output c = c1
    output d = c2
    output e = w3
    """


def test_equal_split_of_a_symbolic_size_shapes():
    """`H // n` parts, exact where the size divides (2*C in 2 is C)."""
    assert shapes(SPLIT, "input x: [N, C, H, W]") == [
        "[N, C, H // 2, W]", "[N, C, H // 2, W]", "[N, C, H, W]", "[N, C, H, W]", "[N, C, H, W // 3]"]


@pytest.mark.parametrize("size", [(2, 3, 8, 6), (1, 5, 4, 9)])
def test_equal_split_of_a_symbolic_size_at_two_sizes(size):
    """Compiled once with symbolic sizes, run at two sizes, against torch.chunk."""
    x = torch.randn(*size, generator=torch.Generator().manual_seed(sum(size)))
    got = run(SPLIT, {"x": x}, "input x: [N, C, H, W]")
    y = torch.cat([x, x], dim=1)
    want = [*x.chunk(2, dim=2), *y.chunk(2, dim=1), x.chunk(3, dim=-1)[2]]
    for g, w_ in zip(got, want):
        assert g.shape == tuple(w_.shape) and np.array_equal(g, w_.numpy())


def test_a_symbolic_size_that_does_not_divide_fails_at_run_time():
    """torch.chunk would give a smaller last part, against the declared `H // 2`:
    the run fails instead, in ONNX and in nnd.torch."""
    import nnd.torch
    body = "a, b = split(x, 2, axis = 2)\noutput o = b\n"
    with pytest.raises(Exception, match="Split node"):   # onnxruntime, at run time
        run(body, {"x": torch.randn(1, 3, 7, 4)})
    m = nnd.torch.module(text=_model(body))
    assert tuple(m(torch.randn(1, 3, 8, 4)).shape) == (1, 3, 4, 4)
    with pytest.raises(RuntimeError, match="split"):
        m(torch.randn(1, 3, 7, 4))
