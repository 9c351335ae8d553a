"""Folding explicit padding into the convolution or pooling that reads it."""

from __future__ import annotations

import math

from ..ir import IR
from ._util import bypass, family, own_attrs, sole_consumer

# Layers whose output is never negative: a zero pad is harmless before a max pool.
NONNEGATIVE = ("ReLU", "ReLU6", "Sigmoid", "HardSigmoid", "Softplus", "Exponential")


def _pad_feeding(ir: IR, n, families: tuple):
    """(pad node, its attrs) when node n is one of `families` and reads a
    constant-mode `Pad` that nothing else reads; else None.

    Written against the Pad layer's attrs: `mode` ("constant", ...), `value`
    (the fill of mode "constant") and `pads`, one (begin, end) pair per
    spatial dimension (the batch and channel dimensions are never padded)."""
    if family(ir, n) not in families:
        return None
    p, port = ir.inputs_of(n)[0]
    if port != 0 or family(ir, p) != "Pad" or sole_consumer(ir, p) != n:
        return None
    pa = ir.node(p)["attrs"]
    if pa.get("mode") != "constant" or len(pa.pads) != len(ir.node(n)["attrs"].pads):
        return None
    return p, pa


def _merge(pads, extra) -> list:
    return [(b + pb, e + pe) for (b, e), (pb, pe) in zip(pads, extra)]


def fold_pad_into_conv(ir: IR) -> int:
    """Pad(value = 0) -> Conv  =>  Conv with the padding added to its own.

    A convolution with zero padding pads its input with zeros first, so
    conv(zero_pad(x, q), pads = p) = conv(x, pads = p + q) per side and
    dimension (asymmetric pads included: ONNX Conv takes begin and end pads).
    Applies to Conv and DepthwiseConv whose own padding is zeros (or a
    constant 0, or absent), when the Pad is read by the conv alone and is not
    a graph output. Returns the number of Pad layers folded."""
    count = 0
    for n in ir.order():
        found = _pad_feeding(ir, n, ("Conv", "DepthwiseConv"))
        if found is None:
            continue
        p, pa = found
        a = ir.node(n)["attrs"]
        own_zero = a.padding_mode == "zeros" or (a.padding_mode == "constant" and a.pad_value == 0.0) or \
            not any(b or e for b, e in a.pads)
        if pa.value != 0.0 or not own_zero:
            continue
        a = own_attrs(ir, n)
        a["pads"] = _merge(a.pads, pa.pads)
        a["padding"] = tuple(a["pads"])
        a["padding_mode"] = "zeros"
        bypass(ir, p)
        count += 1
    return count


def fold_pad_into_pool(ir: IR) -> int:
    """Pad -> AvgPool / MaxPool  =>  the pool with the padding added to its own.

    * AvgPool: averaging over explicit zeros is `count_include_pad = true`:
      avg(zero_pad(x, q), pads = p, count_include_pad) = avg(x, pads = p + q,
      count_include_pad = true). Needs a zero pad, and the pool either counting
      its own padding already or having none.
    * MaxPool: its padding never wins a window (it acts as -inf), so a Pad of
      -inf folds; so does a zero Pad of a tensor that is never negative
      (after ReLU, ReLU6, Sigmoid, HardSigmoid,
      Softplus or Exponential), as long as every window still holds at least
      one real element: max(window with zeros) = max(real elements) >= 0.
      That holds without dilation when each pad is smaller than the window.
    Both need ceil_mode off (a last partial window is kept or dropped by
    where the padding ends, which the merge moves) and keep each merged pad
    smaller than the kernel (onnxruntime's limit). The Pad must be read by
    the pool alone and not be a graph output. Returns the number of Pad
    layers folded."""
    count = 0
    for n in ir.order():
        found = _pad_feeding(ir, n, ("AvgPool", "MaxPool"))
        if found is None:
            continue
        p, pa = found
        a = ir.node(n)["attrs"]
        merged = _merge(a.pads, pa.pads)
        if a.ceil_mode or any(max(b, e) >= k for (b, e), k in zip(merged, a.kernel)):
            continue
        if family(ir, n) == "AvgPool":
            if pa.value != 0.0 or not (a.count_include_pad or not any(b or e for b, e in a.pads)):
                continue
        else:
            src, _ = ir.inputs_of(p)[0]
            harmless = pa.value == -math.inf or (pa.value == 0.0 and family(ir, src) in NONNEGATIVE)
            if not harmless or any(dl != 1 for dl in a.dilations):
                continue
        a = own_attrs(ir, n)
        a["pads"] = merged
        a["padding"] = tuple(merged)
        if family(ir, n) == "AvgPool":
            a["count_include_pad"] = True
        bypass(ir, p)
        count += 1
    return count
