"""Common-subexpression elimination."""

from __future__ import annotations

import numpy as np

from ..ir import IR
from ._util import family


def _random(ir: IR, n) -> bool:
    """Layers whose two instances differ even on the same input: Monte Carlo dropout."""
    a = ir.node(n)["attrs"]
    return family(ir, n) == "Dropout" and bool(a.get("mc")) and a.get("p", 0.0) > 0.0


def _signature(d: dict):
    """What else must match once kind and inputs do: the arguments, and the
    weights' names, dtypes and shapes (hashing every weight would read all
    of them, 100 MB for ResNet-50; candidates are compared by content)."""
    attrs = tuple(sorted((k, repr(v)) for k, v in d["attrs"].items() if k not in ("name", "weights")))
    arrays = tuple(sorted((k, v.dtype.str, v.shape) for k, v in (d.get("arrays") or {}).items()))
    return attrs, arrays


def _cached_signature(ir: IR, n, signatures: dict):
    if n not in signatures:
        signatures[n] = _signature(ir.node(n))
    return signatures[n]


def _same_arrays(x: dict, y: dict) -> bool:
    """Equal contents; a few leading values first, which is where two random
    initializations already differ."""
    return x.keys() == y.keys() and all(
        np.array_equal(x[k].reshape(-1)[:16], y[k].reshape(-1)[:16]) and np.array_equal(x[k], y[k]) for k in x)


def eliminate_common_subexpressions(ir: IR) -> int:
    """Two nodes that compute the same function of the same tensors become one.

    Same kind, same arguments (everything in attrs but the instance name),
    the same (node, port) on every input port in order, and equal weights
    (byte-identical arrays: layers with their own random initialization never
    match; weights bound from a checkpoint that shares them do): f(x) = f(x),
    so the later node's readers, graph outputs included, read the earlier one.
    Nodes are visited in topological order, so whole duplicated chains
    collapse. Monte Carlo dropout is never merged (two masks are two random
    draws). Returns the number of nodes removed."""
    # Nodes are bucketed by kind and inputs, which is all most nodes are ever
    # compared by (a bucket of one); signatures and weights only within a bucket.
    buckets: dict = {}
    signatures: dict = {}
    count = 0
    for n in ir.order():
        d = ir.node(n)
        if d["kind"] in ("Input", "Param") or _random(ir, n):   # two params are two, even when equal
            continue
        bucket = buckets.setdefault((d["kind"], tuple(ir.inputs_of(n))), [])
        m = None
        if bucket:
            sig = _cached_signature(ir, n, signatures)
            arrays = d.get("arrays") or {}
            m = next((c for c in bucket if _cached_signature(ir, c, signatures) == sig
                      and _same_arrays(ir.node(c).get("arrays") or {}, arrays)), None)
        if m is None:
            bucket.append(n)
            continue
        for port in range(len(d["shapes"])):
            ir.redirect(n, port, m, port)
        ir.g.remove_node(n)
        count += 1
    return count
