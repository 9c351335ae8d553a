"""Removing layers that compute nothing at inference."""

from __future__ import annotations

from ..ir import IR
from ..layers.base import Attrs
from ._util import bypass, concrete, family


def eliminate_dropout(ir: IR) -> int:
    """Dropout(p)(x) = x at inference: remove it; StochasticDepth(p)(x) = x too.

    Monte Carlo dropout (`mc = true`, p > 0) samples a fresh mask on every run
    on purpose, so it stays. Returns the number of layers removed."""
    count = 0
    for n in ir.order():
        d = ir.node(n)
        if family(ir, n) in ("Dropout", "StochasticDepth") and not (d["attrs"].get("mc") and d["attrs"].get("p", 0.0) > 0.0):
            bypass(ir, n)
            count += 1
    return count


def _is_identity(ir: IR, n) -> bool:
    d = ir.node(n)
    a, fam = d["attrs"], family(ir, n)
    ins = ir.inputs_of(n)
    if fam == "Identity":                                  # Identity, LinearActivation: y = x
        return True
    if fam in ("Flatten", "Reshape"):                      # to the shape it already has
        src, port = ins[0]
        return tuple(ir.node(src)["shapes"][port]) == tuple(d["shapes"][0])
    if fam == "Pad":                                       # padding of zero everywhere
        return not any(b or e for b, e in a.pads)
    if fam in ("Elementwise", "Concat"):                   # a sum, product or concatenation of one tensor,
        return len(ins) == 1 and a.get("scalar") is None   # not one tensor and a number (`x * 0.5`)
    if fam == "Split":                                     # split into a single part
        return len(d["shapes"]) == 1
    return False


def eliminate_identity(ir: IR) -> int:
    """Remove layers whose output is their input: y = x.

    Identity and LinearActivation; Flatten or Reshape to the shape the tensor
    already has (a row-major reshape to the same shape moves nothing: Flatten
    of an [N, F] tensor); Pad by zero on every side; Add, Sub, Mul and Concat
    of a single tensor; Split into one part. (Dropout and pooling have their
    own passes.) Returns the number of layers removed."""
    count = 0
    for n in ir.order():
        if _is_identity(ir, n):
            bypass(ir, n)
            count += 1
    return count


def eliminate_noop_pooling(ir: IR) -> int:
    """Simplify pooling that does no pooling, or pools the whole map.

    * A 1 x ... x 1 window with stride 1 and no padding: y = x; removed.
    * Global pooling of a map that is already 1 x ... x 1: y = x; removed.
    * A window that covers the whole (concrete) input map exactly, with no
      padding (and, for max pooling, no dilation): the single output is the
      mean (max) over all positions, whatever the stride or ceil_mode, so
      AvgPool -> GlobalAvgPool and MaxPool -> GlobalMaxPool. (ResNet's 7x7
      average pool over its 7x7 map.) onnxruntime runs GlobalAveragePool
      several times faster than the equivalent AveragePool when it does not
      rewrite the graph itself, and as fast when it does.

    Returns the number of layers removed or rewritten."""
    count = 0
    for n in ir.order():
        d = ir.node(n)
        fam = family(ir, n)
        if fam not in ("AvgPool", "MaxPool", "GlobalPool"):
            continue
        a = d["attrs"]
        src, port = ir.inputs_of(n)[0]
        spatial = ir.node(src)["shapes"][port][2:]
        if fam == "GlobalPool":
            if all(s == 1 for s in spatial):
                bypass(ir, n)
                count += 1
            continue
        unpadded = all(b == 0 and e == 0 for b, e in a.pads)
        if not unpadded:
            continue
        if all(k == 1 for k in a.kernel) and all(s == 1 for s in a.strides):
            bypass(ir, n)
            count += 1
        elif concrete(spatial) and tuple(a.kernel) == tuple(spatial) and \
                all(s == 1 for s in d["shapes"][0][2:]) and \
                (fam == "AvgPool" or all(dl == 1 for dl in a.dilations)):
            kind, variant = ("GlobalAvgPool", "avg") if fam == "AvgPool" else ("GlobalMaxPool", "max")
            d["kind"] = kind
            d["attrs"] = Attrs(kind=kind, variant=variant, name=a.name, weights={})
            count += 1
    return count
