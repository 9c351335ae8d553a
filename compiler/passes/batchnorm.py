"""Folding inference-time batch normalization into the layer before it."""

from __future__ import annotations

import numpy as np

from ..ir import IR
from ..layers.base import Weight
from ._util import family, own_attrs, sole_consumer


def _bn_affine(bn: dict):
    """BatchNorm at inference is y = x * s + t per channel, with
    s = gamma / sqrt(var + eps) and t = beta - mean * s (in float64)."""
    ar = bn["arrays"]
    gamma, beta = ar["weight"].astype(np.float64), ar["bias"].astype(np.float64)
    mean, var = ar["running_mean"].astype(np.float64), ar["running_var"].astype(np.float64)
    s = gamma / np.sqrt(var + bn["attrs"]["eps"])
    return s, beta - mean * s


def _fold(ir: IR, families: tuple, accept) -> int:
    count = 0
    for n in ir.order():
        if n not in ir.g or family(ir, n) != "BatchNorm":
            continue
        bn = ir.node(n)
        (p, port), = ir.inputs_of(n)
        if port != 0 or family(ir, p) not in families or sole_consumer(ir, p) != n:
            continue
        prev = ir.node(p)
        if "arrays" not in bn or "weight" not in prev.get("arrays", {}) or not accept(prev["attrs"]):
            continue
        if any(w.shared for w in prev["attrs"]["weights"].values()):
            continue   # its weights are a shared instance's, which other uses read unfolded
        s, t = _bn_affine(bn)
        w = prev["arrays"]["weight"]
        cout = w.shape[0]
        b = prev["arrays"]["bias"].astype(np.float64) if prev["attrs"].get("bias") else np.zeros(cout)
        a = own_attrs(ir, p)
        arrays = ir.node(p)["arrays"]
        # The scale is exact to float32; one float32 product per weight (a
        # float64 copy of every weight would double the pass's time and memory).
        arrays["weight"] = w.astype(np.float32, copy=False) * s.astype(np.float32).reshape((cout,) + (1,) * (w.ndim - 1))
        arrays["bias"] = (b * s + t).astype(np.float32)
        if not a.get("bias"):
            a["bias"] = True
            a["weights"]["bias"] = Weight((cout,), bound=a["weights"]["weight"].bound)
        ir.redirect(n, 0, p, 0)
        ir.g.remove_node(n)
        count += 1
    return count


def fold_batchnorm_into_conv(ir: IR) -> int:
    """Conv -> BatchNorm  =>  Conv with folded weights.

    With s = gamma / sqrt(running_var + eps) per output channel:
        W' = W * s            (scaling each output channel's filter)
        b' = (b - running_mean) * s + beta     (b = 0 when the conv had none)
    exact in real arithmetic; s and b' computed in float64, W' as one float32
    product per weight (within an ulp of float64's), stored as plain
    initializers; a conv without a bias gains one. Applies to Conv1d/2d/3d and
    DepthwiseConv (weights [C_out, C_in / groups, k...]; any padding mode, as
    the normalization acts after the convolution) when the conv's output is
    read by the BatchNorm alone and is not a graph output. Returns the number
    of BatchNorm layers folded. A conv whose weights a `shared` instance's
    other uses read keeps them (and its BatchNorm)."""
    return _fold(ir, ("Conv", "DepthwiseConv"), lambda a: True)


def fold_batchnorm_into_linear(ir: IR) -> int:
    """Linear -> BatchNorm  =>  Linear (a Gemm) with folded weights.

    The same algebra as for a convolution, per output feature:
        W' = W * s[:, None],   b' = (b - running_mean) * s + beta,
        s = gamma / sqrt(running_var + eps).
    Only for a Linear over [N, features]: BatchNorm normalizes dimension 1,
    which is the Linear's output dimension only when the output is 2-D. The
    Linear's output must be read by the BatchNorm alone and not be a graph
    output. Returns the number of BatchNorm layers folded."""
    return _fold(ir, ("Linear",), lambda a: a.get("in_rank") == 2)
