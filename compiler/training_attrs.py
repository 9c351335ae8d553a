"""Training attributes: keyword arguments every layer and block call accepts,
`Linear(10, l2 = 0.01, max_norm = 3.0)`, `Bottleneck(64, trainable = false)`.

They change nothing in the compiled graph. The elaborator records them per
layer instance in `ir.meta["training"]` (a block's reach every layer inside
it; a layer's own override them); `per_parameter` turns them into what each
parameter gets, which the ONNX metadata (`nnd.training`), `nndc summary` and
nnd.torch (compiler/torch_module.py) read. Keras' placement: `l1`, `l2` and
`max_norm` act on the kernel (every parameter of rank 2 or more), `l1_bias`
and `l2_bias` on the bias; `trainable` on all of a layer's parameters.
"""

from __future__ import annotations

import json

from .diagnostics import error
from .values import show

NUMBERS = ("l1", "l2", "l1_bias", "l2_bias", "max_norm")
KEYWORDS = NUMBERS + ("trainable",)


def training_kwargs(kw: dict, params: list) -> tuple[dict, dict]:
    """Split a call's keywords (name -> (value, span)) into the callee's own
    and its training attributes, checked: non-negative numbers, a bool. A
    callee parameter of the same name keeps the keyword."""
    rest, training = {}, {}
    for k, (v, s) in kw.items():
        if k not in KEYWORDS or k in params:
            rest[k] = (v, s)
            continue
        if k == "trainable":
            if not isinstance(v, bool):
                raise error("E0106", f"`trainable` must be `true` or `false`; got {show(v)}", s)
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise error("E0106", f"`{k}` must be a number; got {show(v)}", s)
            if not v >= 0 or v == float("inf"):
                raise error("E0107", f"`{k}` must be a finite number >= 0; got {show(v)}", s,
                            help="a regularization factor or a norm bound is never negative")
            if k == "max_norm" and v == 0:
                raise error("E0107", "`max_norm` must be positive; got 0", s,
                            help="a bound of 0 would set every weight to zero")
            v = float(v)
        training[k] = v
    return rest, training


def is_kernel(pname: str, shape) -> bool:
    return not pname.startswith("bias") and len(shape) >= 2


def is_bias(pname: str) -> bool:
    return pname.startswith("bias")


def per_parameter(ir) -> dict:
    """Full parameter name -> {l1, l2, max_norm, trainable} (only what
    applies, only where something was written), in model order."""
    layers = ir.meta.get("training") or {}
    out = {}
    if not layers:
        return out
    for n in ir.order():
        d = ir.node(n)
        t = layers.get(d["name"])
        if not t:
            continue
        for pname, w in (d["attrs"].get("weights") or {}).items():
            if w.buffer:
                continue
            got = {}
            if is_kernel(pname, w.shape):
                got.update({k: t[k] for k in ("l1", "l2", "max_norm") if t.get(k)})
            elif is_bias(pname):
                got.update({k[:2]: t[k] for k in ("l1_bias", "l2_bias") if t.get(k)})
            if t.get("trainable") is False:
                got["trainable"] = False
            if got:
                out[f"{d['name']}.{pname}"] = got
    return out


def mark_training(model, ir) -> str | None:
    """Record the training attributes in the model's metadata as
    `nnd.training` (JSON, keys sorted); nothing when there are none."""
    per = per_parameter(ir)
    if not per:
        return None
    text = json.dumps(per, sort_keys=True, separators=(",", ":"))
    getattr(model, "proto", model).metadata_props.add(key="nnd.training", value=text)
    return text


def totals(ir) -> dict | None:
    """Parameter counts: trainable, frozen, regularized (None when the model
    writes no training attributes)."""
    if not ir.meta.get("training"):
        return None
    per = per_parameter(ir)
    out = {"trainable": 0, "frozen": 0, "regularized": 0}
    for n in ir.order():
        d = ir.node(n)
        for pname, w in (d["attrs"].get("weights") or {}).items():
            if w.buffer:
                continue
            t = per.get(f"{d['name']}.{pname}", {})
            out["frozen" if t.get("trainable") is False else "trainable"] += w.size
            if any(t.get(k) for k in ("l1", "l2", "max_norm")):
                out["regularized"] += w.size
    return out
