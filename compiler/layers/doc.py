"""Writes docs/layers.md from the registry: `python -m nnd.layers.doc > docs/layers.md`.
A test keeps the committed file in sync with the entries."""

from __future__ import annotations

import inspect

from . import load_all
from .base import REQUIRED


def _default(p) -> str:
    if p.default is REQUIRED:
        return "required"
    v = p.default
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, str):
        return f'`"{v}"`'
    if v is None:
        return "—"
    return f"`{v}`"


def render() -> str:
    reg = load_all()
    specs = sorted({id(s): s for s in reg.values()}.values(),
                   key=lambda s: (type(s).__module__, type(s).__name__))
    out = ["# Layers", "",
           "Generated from `compiler/layers/` by `python -m nnd.layers.doc`; do not edit by hand.",
           "Every layer is tested against PyTorch (`tests/layers/test_reference.py`).", ""]
    module = None
    for s in specs:
        mod = type(s).__module__.rsplit(".", 1)[-1]
        if mod != module:
            module = mod
            doc = inspect.getdoc(__import__(type(s).__module__, fromlist=["x"])) or mod
            title = " ".join(doc.split("\n\n")[0].split()).rstrip(".")
            out += [f"## {title}", ""]
        out.append("### " + ", ".join(f"`{n}`" for n in s.names))
        out.append("")
        doc = inspect.getdoc(type(s))
        if doc:
            out += [doc, ""]
        if s.params:
            out += ["| parameter | type | default | notes |", "| --- | --- | --- | --- |"]
            for p in s.params:
                notes = p.doc
                if p.choices:
                    notes = (notes + "; " if notes else "") + "one of " + ", ".join(
                        f'`"{c}"`' if isinstance(c, str) else f"`{c}`" for c in p.choices)
                out.append(f"| `{p.name}` | {p.type} | {_default(p)} | {notes} |")
            out.append("")
        if getattr(s, "inputs_doc", None):
            out += [s.inputs_doc, ""]
        elif s.n_inputs is None:
            out += ["Takes any number of input tensors.", ""]
        elif s.n_inputs != 1:
            out += [f"Takes {s.n_inputs} input tensors.", ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
