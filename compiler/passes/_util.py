"""Small graph edits shared by the passes."""

from __future__ import annotations

from ..ir import IR
from ..layers import load_all
from ..layers.base import Attrs


def family(ir: IR, n) -> str:
    """The layer family of node n (the entry's class name: `Conv`, `AvgPool`,
    ...), so a pass matches `Conv1d`, `Conv2d` and `Conv3d` at once; `Input`
    and `Constant` for those node kinds."""
    kind = ir.node(n)["kind"]
    fam = _FAMILY.get(kind)
    if fam is None:
        spec = load_all().get(kind)
        fam = _FAMILY[kind] = type(spec).__name__ if spec is not None else kind
    return fam


_FAMILY: dict[str, str] = {}   # kind -> family: every pass asks it of every node


def is_output(ir: IR, n, port: int | None = None) -> bool:
    return any(o.node == n and (port is None or o.port == port) for o in ir.outputs)


def sole_consumer(ir: IR, n, port: int = 0):
    """The one node reading (n, port), or None when it has several readers,
    none, or is a graph output (then its value is observable)."""
    uses = ir.consumers(n, port)
    if len(uses) != 1 or is_output(ir, n, port):
        return None
    return uses[0][0]


def bypass(ir: IR, n, port: int = 0) -> None:
    """Remove node n: the readers of its output `port` (graph outputs
    included) read n's first input instead. Exact when that output equals the
    input; a pass that absorbs n's work into the readers (a Pad into a Conv)
    changes them first."""
    (src, sport) = ir.inputs_of(n)[0]
    ir.redirect(n, port, src, sport)
    ir.g.remove_node(n)
    shape = ir.node(src)["shapes"][sport]
    for _, _, d in ir.g.out_edges(src, data=True):
        if d["src_port"] == sport:
            d["shape"] = shape


def own_attrs(ir: IR, n) -> Attrs:
    """Node n's attrs, copied (with their `weights` dict) before a pass edits
    them, so nothing shared with another node or the elaborator changes."""
    d = ir.node(n)
    a = Attrs(d["attrs"])
    a["weights"] = dict(a.get("weights") or {})
    d["attrs"] = a
    d["arrays"] = dict(d.get("arrays") or {})
    return a


def concrete(dims) -> bool:
    return all(isinstance(v, int) for v in dims)
