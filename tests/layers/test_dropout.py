"""Monte Carlo dropout (`mc = true`) really drops: what survives is scaled by
1 / (1 - p), the dropped fraction is near p, and the seed fixes the masks.

What onnxruntime does (1.31, CPU), asserted below: a Dropout node's `seed`
attribute seeds its generator when the session is created, so the first run of
every session built from the same model draws the same mask; each further run
of one session draws a new mask (which is what Monte Carlo sampling wants)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from helpers import compile_text


def _session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _model(layer: str, shape: str):
    return compile_text(f"model T {{\n    input x: {shape}\n    output y = x -> {layer}\n}}\n")


def _x(shape, seed=0):
    # No exact zeros in the input, so a zero in the output means dropped.
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    x[x == 0] = 1.0
    return x


def _check_model(model, shape):
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = [d.dim_param or d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    assert dims == shape


@pytest.mark.parametrize("p", [0.3, 0.75])
def test_mc_dropout_scales_survivors_and_drops_about_p(p):
    model = _model(f"Dropout({p}, mc = true, seed = 11)", "[N, 1024]")
    _check_model(model, ["N", 1024])
    x = _x((64, 1024))
    (y,) = _session(model).run(None, {"x": x})
    dropped = y == 0
    np.testing.assert_allclose(y[~dropped], x[~dropped] / np.float32(1 - p), rtol=1e-6)
    # 65536 Bernoulli(p) draws: the standard deviation of the fraction is < 0.002.
    assert abs(dropped.mean() - p) < 0.01


def test_mc_dropout_seed_fixes_the_first_mask_of_every_session():
    x = _x((16, 512))
    model = _model("Dropout(0.5, mc = true, seed = 7)", "[N, 512]")
    s1, s2 = _session(model), _session(model)
    a1, a2 = s1.run(None, {"x": x})[0], s1.run(None, {"x": x})[0]
    b1 = s2.run(None, {"x": x})[0]
    again = _session(_model("Dropout(0.5, mc = true, seed = 7)", "[N, 512]")).run(None, {"x": x})[0]
    other = _session(_model("Dropout(0.5, mc = true, seed = 8)", "[N, 512]")).run(None, {"x": x})[0]
    assert np.array_equal(a1, b1)          # same seed, fresh session: same mask
    assert np.array_equal(a1, again)       # and after compiling again
    assert not np.array_equal(a1, a2)      # a second run samples a new mask
    assert not np.array_equal(a1 == 0, other == 0)   # another seed, another mask


def test_dropout_without_mc_is_the_identity():
    model = _model("Dropout(0.5, seed = 7)", "[N, 512]")
    assert "Dropout" not in [n.op_type for n in model.graph.node]
    x = _x((4, 512))
    assert np.array_equal(_session(model).run(None, {"x": x})[0], x)


@pytest.mark.parametrize("layer,shape", [("Dropout2d(0.4, mc = true, seed = 3)", (32, 64, 3, 5)),
                                         ("SpatialDropout(0.4, mc = true, seed = 3)", (32, 64, 7)),
                                         ("Dropout3d(0.4, mc = true, seed = 3)", (16, 128, 2, 2, 3))])
def test_spatial_dropout_drops_whole_channels(layer, shape):
    decl = "[N, " + ", ".join(map(str, shape[1:])) + "]"
    model = _model(layer, decl)
    _check_model(model, ["N"] + list(shape[1:]))
    x = _x(shape)
    s = _session(model)
    (y,) = s.run(None, {"x": x})
    axes = tuple(range(2, len(shape)))
    dropped = (y == 0).all(axis=axes)
    kept = (y != 0).all(axis=axes)
    assert (dropped | kept).all(), "a channel was dropped only in part"
    keep = kept.reshape(kept.shape + (1,) * len(axes))
    np.testing.assert_allclose(np.where(keep, y, 0), np.where(keep, x / np.float32(0.6), 0), rtol=1e-6)
    # 2048 channels: the standard deviation of the dropped fraction is about 0.011.
    assert abs(dropped.mean() - 0.4) < 0.05
    # Seeded like Dropout: a fresh session repeats the first mask; a second run differs.
    assert np.array_equal(_session(model).run(None, {"x": x})[0], y)
    assert not np.array_equal(s.run(None, {"x": x})[0], y)
    # The batch stays open.
    assert s.run(None, {"x": x[:3]})[0].shape == (3,) + shape[1:]


def test_spatial_dropout_without_mc_is_the_identity():
    model = _model("Dropout2d(0.5)", "[N, 3, 4, 4]")
    assert [n.op_type for n in model.graph.node] in ([], ["Identity"])
    x = _x((2, 3, 4, 4))
    assert np.array_equal(_session(model).run(None, {"x": x})[0], x)
