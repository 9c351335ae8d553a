"""Warnings about programs that compile but are probably not what was meant.

Each warning is one plain function over the finished IR (node data: kind,
attrs, shapes, span) that yields diagnostics; LINTS lists them in order. They
run only when elaboration reported no error, so every shape is known. A
warning raised in a block instantiated many times is reported once, and none
is reported inside the standard library, nor on a line whose comment says
`allow(CODE)` (a warning the author has read and meant).
"""

from __future__ import annotations

import re

from .diagnostics import Diagnostic, Label
from .ir import IR
from .shapes import fmt_shape

LARGE_LINEAR = 100_000_000   # parameters of one Linear layer before W0006 warns

_POOL = ("MaxPool", "AvgPool", "LPPool")
_SHAPE_ONLY = {"Identity", "LinearActivation", "Dropout", "StochasticDepth", "Flatten", "Reshape"}
_AXIS_NAMES = {1: ("position", "positions"), 2: ("row", "rows", "column", "columns"),
               3: ("plane", "planes", "row", "rows", "column", "columns")}


def lint(ir: IR, sources=None) -> list[Diagnostic]:
    out, seen = [], set()
    for check in LINTS:
        for d in check(ir):
            key = (d.code, d.span)
            # Nothing to fix in the standard library from the user's side.
            if d.span is not None and d.span.file.startswith("std/"):
                continue
            if _allowed(d, sources):
                continue
            if key not in seen:
                seen.add(key)
                out.append(d)
    out.sort(key=lambda d: (d.span.file, d.span.line, d.span.column) if d.span else ("", 0, 0))
    return out


_ALLOW = re.compile(r"#.*\ballow\(([A-Z0-9,\s]*)\)")


def _allowed(d: Diagnostic, sources) -> bool:
    """Whether the warned line carries `# allow(W0006)` (codes comma-separated)."""
    if sources is None or d.span is None:
        return False
    m = _ALLOW.search(sources.line(d.span.file, d.span.line) or "")
    return bool(m) and d.code in {c.strip() for c in m.group(1).split(",")}


def _layers(ir: IR, prefixes):
    for n, d in ir.nodes():
        if d["kind"].startswith(prefixes) and d.get("span") is not None:
            yield n, d


def _unit(d: int, i: int, count: int) -> str:
    """`row`/`rows` for spatial dimension i of d."""
    names = _AXIS_NAMES.get(d)
    if names is None:
        return "position" if count == 1 else "positions"
    return names[2 * i] if count == 1 else names[2 * i + 1]


def pooling_drops(ir: IR):
    """W0001: a pooling window that does not reach the end of its input
    silently ignores the last rows or columns."""
    for n, d in _layers(ir, _POOL):
        a = d["attrs"]
        if a.get("ceil_mode") or not all(k in a for k in ("kernel", "strides", "pads")):
            continue
        ins = ir.inputs_of(n)
        if not ins:
            continue
        src, port = ins[0]
        x = ir.node(src)["shapes"][port]
        out = d["shapes"][0]
        if x is None or out is None:
            continue
        dl = a.get("dilations") or (1,) * len(a["kernel"])
        dropped = []
        for i, (w, o, k, s, dil, (pb, _)) in enumerate(zip(x[2:], out[2:], a["kernel"], a["strides"], dl, a["pads"])):
            if not (isinstance(w, int) and isinstance(o, int)):
                continue
            covered = (o - 1) * s + dil * (k - 1) + 1       # padded positions the windows reach
            lost = pb + w - covered
            if lost > 0:
                dropped.append((i, w, lost))
        if not dropped:
            continue
        rank = len(x) - 2
        what = " and ".join(f"the last {lost} {_unit(rank, i, lost)}" if lost > 1 else
                            f"the last {_unit(rank, i, 1)}" for i, _, lost in dropped)
        sizes = ", ".join(f"{w}" for _, w, _ in dropped)
        yield Diagnostic(
            "W0001", f"`{d['kind']}` ignores {what} of its input", d["span"],
            help=f"the input size ({sizes}) does not fit a whole number of windows of {a['kernel'][dropped[0][0]]} "
                 f"with stride {a['strides'][dropped[0][0]]}; pad the input, use `ceil_mode = true`, "
                 f"or crop it on purpose")


def bias_before_batchnorm(ir: IR):
    """W0002: a bias feeding only BatchNorm is subtracted right away."""
    for n, d in _layers(ir, ("Conv", "DepthwiseConv", "Linear", "Dense", "ConvTranspose")):
        a = d["attrs"]
        if not a.get("bias") or "bias" not in (a.get("weights") or {}):
            continue
        users = ir.consumers(n)
        if not users or any(o.node == n for o in ir.outputs):
            continue
        bns = [v for v, _ in users if ir.node(v)["kind"].startswith("BatchNorm")]
        if len(bns) != len(users):
            continue
        bn = ir.node(bns[0])
        labels = [Label(bn["span"], "this normalization subtracts the mean, bias included")] \
            if bn.get("span") is not None and bn["span"] != d["span"] else []
        yield Diagnostic(
            "W0002", f"the bias of this `{d['kind']}` is cancelled by the BatchNorm after it", d["span"], labels,
            help="write `bias = false`; the BatchNorm has its own shift")


def unused_tensors(ir: IR):
    """W0003: a tensor that is assigned but never reaches an output, or a
    model input that nothing reads. A name that starts with `_` (`_`,
    `_hidden`) says it is unused on purpose, as in Python."""
    outputs = {(o.node, o.port) for o in ir.outputs}
    live = set(o.node for o in ir.outputs)
    for n in reversed(ir.order()):
        if n in live:
            continue
        if any(v in live for v, _ in ir.consumers(n)):
            live.add(n)
    for name, node, port, span in ir.meta.get("bindings", ()):
        if name.startswith("_"):
            continue   # `out, _, _ = x -> LSTM(8)`: discarded on purpose
        if (node, port) in outputs or any(v in live for v, _ in ir.consumers(node, port)):
            continue
        if ir.node(node)["kind"] == "Input" and ir.consumers(node):
            continue
        several = len(ir.node(node).get("shapes") or ()) > 1
        yield Diagnostic("W0003", f"`{name}` is never used", span,
                         help=f"use it, or remove it; if it is meant as a result, declare `output {name}`" +
                         ("; to discard it, name it `_`" if several else ""))
    for n in ir.inputs:
        d = ir.node(n)
        if not ir.consumers(n) and (n, 0) not in outputs and d.get("span") is not None \
                and not d["name"].startswith("_"):
            yield Diagnostic("W0003", f"input `{d['name']}` is never used", d["span"],
                             help="remove it, or feed it into the model")


def even_kernel_same(ir: IR):
    """W0004: `padding = "same"` with an even window pads one side more."""
    for n, d in ir.nodes():
        a = d["attrs"]
        if d.get("span") is None or a.get("padding") != "same" or "pads" not in a or "kernel" not in a:
            continue
        uneven = [(i, k, b, e) for i, (k, (b, e)) in enumerate(zip(a["kernel"], a["pads"])) if b != e]
        if not uneven:
            continue
        i, k, b, e = uneven[0]
        yield Diagnostic(
            "W0004", f"`padding = \"same\"` with a kernel of {k} pads unevenly ({b} before, {e} after)", d["span"],
            help="use an odd kernel size, or give the padding explicitly as (begin, end) pairs if this is meant")


def softmax_twice(ir: IR):
    """W0005: a softmax over something a softmax already produced."""
    for n, d in _layers(ir, ("Softmax", "LogSoftmax")):
        src = n
        prev = None
        for _ in range(64):
            ins = ir.inputs_of(src)
            if len(ins) != 1:
                break
            src = ins[0][0]
            k = ir.node(src)["kind"]
            if k in ("Softmax", "LogSoftmax"):
                prev = src
                break
            if k not in _SHAPE_ONLY:
                break
        if prev is None:
            continue
        first = ir.node(prev)
        labels = [Label(first["span"], f"the first `{first['kind']}`")] if first.get("span") is not None \
            and first["span"] != d["span"] else []
        yield Diagnostic(
            "W0005", f"`{d['kind']}` is applied to the output of a `{first['kind']}`", d["span"], labels,
            help="remove one of them; if the loss applies softmax itself (as PyTorch's CrossEntropyLoss does), "
                 "output the logits")


def large_linear(ir: IR):
    """W0006: a fully connected layer with a huge weight matrix, usually a
    Flatten over a feature map that should have been pooled first."""
    for n, d in _layers(ir, ("Linear", "Dense")):
        ws = d["attrs"].get("weights") or {}
        count = sum(w.size for w in ws.values() if not w.buffer)
        if count <= LARGE_LINEAR:
            continue
        fin = d["attrs"].get("in_features")
        help = None
        ins = ir.inputs_of(n)
        if ins and ir.node(ins[0][0])["kind"] == "Flatten":
            src = ir.inputs_of(ins[0][0])
            if src:
                shape = ir.node(src[0][0])["shapes"][src[0][1]]
                if shape is not None and len(shape) >= 3:
                    help = (f"its {fin:,} input features are a flattened {'x'.join(map(str, shape[1:]))} "
                            f"feature map; pool it first (`-> GlobalAvgPool -> Flatten`)")
        yield Diagnostic(
            "W0006", f"this `{d['kind']}` has {count:,} parameters ({count * 4 / 2 ** 20:,.0f} MiB of float32)",
            d["span"], help=help)


def linear_on_feature_map(ir: IR):
    """W0007: a Linear over [N, C, *spatial] straight out of a convolution or
    pooling (activations, normalizations and dropout between them pass the
    shape on). It is legal, as in PyTorch, but mixes only the last dimension:
    nearly always a missing Flatten."""
    for n, d in _layers(ir, ("Linear", "Dense")):
        ins = ir.inputs_of(n)
        if not ins:
            continue
        src, port = ins[0]
        x = ir.node(src)["shapes"][port]
        if x is None or len(x) < 3:
            continue
        maker = _shape_maker(ir, src, x)
        if maker is None:
            continue
        feats = " x ".join(str(v) for v in x[1:])
        total = 1
        for v in x[1:]:
            total = total * v if isinstance(total, int) and isinstance(v, int) else None
        m = ir.node(maker)
        labels = [Label(m["span"], f"this `{m['kind']}` makes the feature map")] \
            if m.get("span") is not None and m["span"] != d["span"] else []
        yield Diagnostic(
            "W0007", f"`{d['kind']}` over the last dimension of a feature map {fmt_shape(x)}",
            d["span"], labels,
            help=f"insert `-> Flatten` before it ({feats}{f' = {total}' if total else ''} features); "
                 f"if the last dimension is meant, write `# allow(W0007)` on this line")


_SPATIAL = ("Conv", "DepthwiseConv", "MaxPool", "AvgPool", "MinPool", "SumPool", "LPPool", "AdaptiveAvgPool",
            "AdaptiveMaxPool", "GlobalAvgPool", "GlobalMaxPool")


def _shape_maker(ir: IR, n, shape):
    """The convolution or pooling that made `shape`, walking back through
    one-input layers that keep it; None if something else made it."""
    for _ in range(64):
        d = ir.node(n)
        if d["kind"].startswith(_SPATIAL):
            return n
        ins = ir.inputs_of(n)
        if len(ins) != 1:
            return None
        src, port = ins[0]
        if ir.node(src)["shapes"][port] != shape:
            return None
        n = src
    return None


LINTS = [pooling_drops, bias_before_batchnorm, unused_tensors, even_kernel_same, softmax_twice, large_linear,
         linear_on_feature_map]
