"""`nndc summary` and `nnd.summary`: a per-layer table of the declared model,
as torchinfo and Keras users expect it. Works from `nnd.check`'s IR (no
onnx, numpy or networkx), and only `nndc summary` imports it.

Per row: output shape, parameters, MACs (the layer entry's `macs` hook),
"connected to" for nodes with several inputs, activation bytes, and for
conv and pool layers the receptive field and stride on the input (the
standard recursion r += (k - 1) * dilation * j, j *= stride; a merge takes
the largest of its inputs'). Sizes that are symbolic count with the batch
(the first dimension of an input) at 1; any other unknown size leaves the
value unknown (None).
"""

from __future__ import annotations

from .ir import weight_name
from .layers import REGISTRY
from .layers.base import Layer
from .shapes import Sym, fmt_type

BYTES = {"float32": 4, "int64": 8, "int32": 4, "bool": 1}


def summarize(ir, depth: int | None = None) -> dict:
    """{"model", "rows": [row dict per layer (or per block instance at
    `depth`)], "totals": {...}} for a checked IR."""
    from .training_attrs import per_parameter
    frozen_names = {k for k, t in per_parameter(ir).items() if t.get("trainable") is False}
    batch = {str(ir.node(n)["shapes"][0][0]) for n in ir.inputs
             if ir.node(n)["shapes"][0] and isinstance(ir.node(n)["shapes"][0][0], Sym)}
    conc = lambda s: _concrete(s, batch)  # noqa: E731
    rows, seen, rf = [], set(), {}
    for n in ir.order():
        d = ir.node(n)
        ws = {weight_name(d, p, w): w for p, w in (d["attrs"].get("weights") or {}).items()}
        own = {k: w for k, w in ws.items() if k not in seen}
        seen.update(ws)
        params = sum(w.size for w in own.values() if not w.buffer)
        producers = ir.inputs_of(n)
        ins = [conc(ir.node(u)["shapes"][p]) for u, p in producers]
        outs = [conc(s) for s in d["shapes"]]
        rf[n] = _receptive(d, [rf.get(u) for u, _ in producers])
        spatial = "strides" in d["attrs"] and d["kind"] in REGISTRY and "Transpose" not in d["kind"]
        rows.append({
            "name": d["name"], "kind": d["kind"],
            "output_shape": _outputs([fmt_type(s, ir.dtype_of(n, i)) for i, s in enumerate(d["shapes"])]),
            "params": params,
            "shared": bool(ws) and not own,
            "buffers": sum(w.size for w in own.values() if w.buffer),
            "frozen": sum(w.size for k, w in own.items() if not w.buffer and k in frozen_names),
            "macs": _macs(d, ins, outs),
            "connected_to": [ir.node(u)["name"] for u, _ in producers] if len(producers) > 1 else [],
            "activation_bytes": None if d["kind"] == "Input" else _bytes(ir, n, outs),
            "receptive_field": list(rf[n][0]) if spatial and rf[n] else None,
            "stride": list(rf[n][1]) if spatial and rf[n] else None,
        })
    totals = _totals(ir, rows)
    from .training_attrs import totals as training_totals
    if (t := training_totals(ir)) is not None:
        totals["regularized"] = t["regularized"]
    if depth is not None:
        rows = collapse(rows, depth)
    return {"model": ir.name, "rows": rows, "totals": totals}


def _concrete(shape, batch: set):
    """The shape as ints, a batch symbol at 1; None when a size is unknown."""
    if shape is None:
        return None
    out = []
    for i, d in enumerate(shape):
        if isinstance(d, int):
            out.append(d)
        elif i == 0 and str(d) in batch:
            out.append(1)
        else:
            return None
    return tuple(out)


def _macs(d, ins, outs):
    spec = REGISTRY.get(d["kind"])
    if spec is None or type(spec).macs is Layer.macs:
        return 0
    if any(s is None for s in ins + outs):
        return None
    return spec.macs(d["attrs"], ins, outs)


def _bytes(ir, n, outs):
    if any(s is None for s in outs):
        return None
    total = 0
    for i, s in enumerate(outs):
        k = 1
        for x in s:
            k *= x
        total += k * BYTES.get(ir.dtype_of(n, i), 4)
    return total


def _receptive(d, ins):
    """(receptive field, jump) per spatial axis of the node's output, or None."""
    known = [r for r in ins if r is not None]
    a = d["attrs"]
    if d["kind"] == "Input":
        s = d["shapes"][0]
        return ((1,) * (len(s) - 2), (1,) * (len(s) - 2)) if s is not None and len(s) >= 3 else None
    if not known or len({len(r[0]) for r in known}) != 1:
        return None
    rfield = tuple(max(r[0][i] for r in known) for i in range(len(known[0][0])))
    jump = tuple(max(r[1][i] for r in known) for i in range(len(known[0][1])))
    if "strides" in a and "kernel" in a and "Transpose" not in d["kind"]:
        dil = a.get("dilations") or (1,) * len(a["kernel"])
        if len(a["kernel"]) != len(rfield):
            return None
        rfield = tuple(r + (k - 1) * dl * j for r, k, dl, j in zip(rfield, a["kernel"], dil, jump))
        jump = tuple(j * s for j, s in zip(jump, a["strides"]))
    out = d["shapes"][0] if d["shapes"] else None
    if out is None or len(out) != len(rfield) + 2 or "Transpose" in d["kind"] or "Upsample" in d["kind"]:
        return None   # no longer a spatial map on the input's grid
    return rfield, jump


def _totals(ir, rows) -> dict:
    params = sum(r["params"] for r in rows)
    buffers = sum(r["buffers"] for r in rows)
    frozen = sum(r["frozen"] for r in rows)
    macs = [r["macs"] for r in rows]
    acts = [r["activation_bytes"] for r in rows if r["kind"] != "Input"]
    return {
        "layers": ir.layer_count(), "params": params, "trainable": params - frozen, "frozen": frozen,
        "buffers": buffers, "non_trainable": frozen + buffers,
        "macs": None if None in macs else sum(macs),
        "param_bytes": 4 * (params + buffers),
        "activation_bytes": None if None in acts else sum(acts),
    }


def collapse(rows: list, depth: int) -> list:
    """One row per block instance at `depth` (`layer1.0` at depth 2): the
    rows of layers named below it summed, its output the last one's."""
    out: list = []
    index: dict = {}
    for r in rows:
        parts = r["name"].split(".")
        if len(parts) <= depth:
            out.append(dict(r))
            continue
        key = ".".join(parts[:depth])
        if key not in index:
            index[key] = len(out)
            out.append({**r, "name": key, "kind": "block", "layers": 0, "receptive_field": None,
                        "stride": None, "connected_to": [], "params": 0, "buffers": 0, "frozen": 0,
                        "macs": 0, "activation_bytes": 0, "shared": False})
        g = out[index[key]]
        g["layers"] += 1
        g["output_shape"] = r["output_shape"]
        for k in ("params", "buffers", "frozen", "macs", "activation_bytes"):
            g[k] = None if g[k] is None or r[k] is None else g[k] + r[k]
        if r["receptive_field"] is not None:
            g["receptive_field"], g["stride"] = r["receptive_field"], r["stride"]
    return out


def human(n, unit: str = "") -> str:
    if n is None:
        return "?"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n} {unit}".rstrip()


def render(data: dict) -> str:
    """The table as text."""
    head = ("name", "kind", "output shape", "params", "MACs", "RF / stride", "connected to")
    table = []
    for r in data["rows"]:
        rf = "" if r["receptive_field"] is None else \
            f"{'x'.join(map(str, r['receptive_field']))} / {'x'.join(map(str, r['stride']))}"
        table.append((r["name"], r["kind"], r["output_shape"],
                      "shared" if r["shared"] else f"{r['params']:,}",
                      "" if r["macs"] == 0 else human(r["macs"]), rf, ", ".join(r["connected_to"])))
    w = [max(len(x[i]) for x in table + [head]) for i in range(len(head))]
    right = (3, 4)
    line = lambda cells: "  ".join(f"{c:>{w[i]}}" if i in right else f"{c:{w[i]}}"  # noqa: E731
                                   for i, c in enumerate(cells)).rstrip()
    rule = "-" * len(line(tuple("x" * k for k in w)))
    t = data["totals"]
    lines = [line(head), rule] + [line(x) for x in table] + [rule]
    lines.append(f"model {data['model']}: {t['layers']} layers, {t['params']:,} parameters"
                 + (f" (+ {t['buffers']:,} buffer values)" if t["buffers"] else ""))
    lines.append(f"trainable: {t['trainable']:,}   non-trainable: {t['non_trainable']:,} "
                 f"({t['frozen']:,} frozen, {t['buffers']:,} buffers)")
    lines.append(f"MACs: {human(t['macs'])} (batch 1)   parameter memory: {human(t['param_bytes'], 'B')}   "
                 f"activation memory: {human(t['activation_bytes'], 'B')} (batch 1, float32 outputs)")
    if "regularized" in t:
        lines.append(f"training: {t['trainable']:,} trainable, {t['frozen']:,} frozen, "
                     f"{t['regularized']:,} regularized")
    return "\n".join(lines)


def _outputs(types: list[str], most: int = 4) -> str:
    """A layer's output types, kept short where a layer has many
    (`split(x, 300)`): their count and the one type, or the first few."""
    if len(types) <= most:
        return ", ".join(types)
    if len(set(types)) == 1:
        return f"{len(types)} outputs: {types[0]} each"
    return ", ".join(types[:most - 1]) + f", ... ({len(types) - most + 1} more)"
