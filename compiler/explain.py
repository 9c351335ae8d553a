"""Explaining shape errors by walking back through the IR.

When a layer's shape rule fails, the layer itself only sees its input shapes.
The functions here look at how those inputs came to be: the sizes one
dimension took along the way (for a spatial size that shrank to zero), the
layer where two paths into a concatenation parted ways, and the model input
that introduced a symbolic size. They read only the IR's node data (kind,
name, shapes, span) and never fail: where nothing useful can be said they
return nothing.
"""

from __future__ import annotations

import re

from .diagnostics import Label, Span
from .shapes import Sym, fmt_dim

MAX_WALK = 10_000      # nodes visited walking back from one tensor
MAX_SHOWN = 10         # sizes listed in a note before the middle is elided


def walk_back(ir, node: int, port: int, dim: int) -> list[tuple[int, object]]:
    """(node, size of `dim`) from the origin of a tensor to the tensor itself,
    following each layer's first input of the same rank. Stops at a model
    input, at a change of rank, or at a node whose shape is unknown."""
    path = []
    rank = None
    seen = 0
    while node is not None and seen < MAX_WALK:
        seen += 1
        data = ir.node(node)
        shapes = data.get("shapes") or []
        shape = shapes[port] if port < len(shapes) else None
        if shape is None or dim >= len(shape) or (rank is not None and len(shape) != rank):
            break
        rank = len(shape)
        path.append((node, shape[dim]))
        nxt = None
        for src, sp in ir.inputs_of(node):
            s = ir.node(src)["shapes"]
            if sp < len(s) and s[sp] is not None and len(s[sp]) == rank:
                nxt = (src, sp)
                break
        if nxt is None:
            break
        node, port = nxt
    path.reverse()
    return path


def changes(path) -> list[tuple[int, object]]:
    """The steps of a walk where the size changed (the origin always counts)."""
    out = []
    for node, size in path:
        if not out or size != out[-1][1]:
            out.append((node, size))
    return out


def describe(ir, node: int, snippet=None, home: str | None = None) -> str:
    """How a node reads in a message: its source text (or name) and location
    (the line, and the file too when it is not `home`)."""
    d = ir.node(node)
    span: Span | None = d.get("span")
    if d["kind"] in ("Input", "Param"):
        what = f"{d['kind'].lower()} `{d['name']}`"
    else:
        text = snippet(span) if snippet is not None and span is not None else None
        what = f"`{text}`" if text else f"`{d['name']}` ({d['kind']})"
    where = "" if span is None else f" (line {span.line})" if home in (None, span.file) \
        else f" ({span.file}:{span.line})"
    return what + where


def sizes_note(ir, steps: list[tuple[int, object]], dim: int, final: tuple[str, object] | None = None,
               snippet=None, home: str | None = None) -> str | None:
    """A multi-line note listing a dimension's sizes along the way."""
    rows = [(fmt_dim(size), describe(ir, n, snippet, home)) for n, size in steps]
    if final is not None:
        rows.append((fmt_dim(final[1]), final[0]))
    if len(rows) < 2:
        return None
    if len(rows) > MAX_SHOWN:
        rows = rows[:3] + [("...", "")] + rows[-(MAX_SHOWN - 4):]
    w = max(len(r[0]) for r in rows)
    return f"dimension {dim} along the way:\n" + "\n".join(f"{s:>{w}}  {what}".rstrip() for s, what in rows)


def shrink_note(ir, x, dim: int, layer: str, size, snippet=None, home: str | None = None) -> str | None:
    """For a layer that made `dim` non-positive: the sizes leading to it."""
    steps = changes(walk_back(ir, x.node, x.port, dim))
    return sizes_note(ir, steps, dim, (layer, size), snippet, home)


def divergence(ir, xs: list, dim: int, snippet=None, home: str | None = None) -> tuple[list[Label], str | None]:
    """Why tensors that should agree in `dim` do not: for each one, the layers
    that changed that dimension since the paths split. Returns labels on the
    last such layer of each path (so the source shows where the sizes were
    made) and a note with the sizes along each path."""
    paths = [walk_back(ir, x.node, x.port, dim) for x in xs]
    common = None
    if paths and all(paths):
        shared = set.intersection(*(set(n for n, _ in p) for p in paths))
        # The last node every path goes through: where they split.
        for n, _ in reversed(paths[0]):
            if n in shared:
                common = n
                break
    labels, lines = [], []
    for i, p in enumerate(paths):
        if common is not None:
            idx = next(k for k, (n, _) in enumerate(p) if n == common)
            p = p[idx:]
        steps = changes(p)
        if len(steps) < 2:
            continue
        last, size = steps[-1]
        span = ir.node(last).get("span")
        if span is not None:
            labels.append(Label(span, f"input {i}'s dimension {dim} becomes {fmt_dim(size)} here"))
        trail = " -> ".join(f"{fmt_dim(s)} at {describe(ir, n, snippet, home)}" if k else fmt_dim(s)
                            for k, (n, s) in enumerate(steps))
        lines.append(f"input {i}: {trail}")
    return labels, ("dimension %d since the paths split:\n" % dim + "\n".join(lines)) if lines else None


_ATOM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def symbol_origins(ir, value) -> list[Label]:
    """Labels on the model inputs that declare the symbols a size depends on."""
    if not isinstance(value, Sym):
        return []
    names = set()
    for atom in value.terms:
        names.update(_ATOM.findall(atom))
    labels = []
    for n in ir.inputs:
        d = ir.node(n)
        shape = (d.get("shapes") or [None])[0] or ()
        used = sorted({a for dim in shape if isinstance(dim, Sym) for a in dim.terms if a in names})
        if used and d.get("span") is not None:
            what = ", ".join(f"`{a}`" for a in used)
            labels.append(Label(d["span"], f"{what} {'is' if len(used) == 1 else 'are'} left open here"))
    return labels
