"""nnd.torch: a torch.nn.Module built from a .nnd model, to train it.

    import nnd.torch
    m = nnd.torch.module("model.nnd", seed=0)     # or weights="w.safetensors"
    loss = F.mse_loss(m(x), y) + m.regularization_loss()
    loss.backward(); opt.step(); m.apply_constraints()

The module is made from the elaborated IR with its weights materialized as
`nndc compile` does (same seed, same names), before the optimization passes:
a BatchNorm stays a BatchNorm. Its `state_dict()` keys are the nnd parameter
names (`layer1.0.conv1.weight`), held by nested modules that follow the
dotted names, so torchvision checkpoints load into it and its weights bind
back with `nndc compile --weights`. Forward runs each layer entry's torch
computation (`reference`, or `train_reference` in train() mode and where the
layer asks for it always, as Monte Carlo dropout does). torch is imported
here only, never by compile, check or run.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from .training_attrs import per_parameter


def module(path: str | None = None, *, text: str | None = None, model: str | None = None,
           params: dict | None = None, seed: int = 0, weights: str | None = None, partial: bool = False,
           freeze=(), allow_outside: bool = False) -> "NndModule":
    """The model as a torch.nn.Module. `freeze`: glob patterns over layer
    names (as `nndc compile --freeze`), added to the `trainable = false`
    the program writes. Raises nnd.CompileFailed / nnd.WeightError as
    `nnd.compile` does."""
    from .api import build
    ir, _ = build(path, text=text, model=model, params=params, seed=seed, weights=weights, optimize=False,
                  partial=partial, freeze=freeze, allow_outside=allow_outside)
    frozen = set()
    if freeze:
        from .binding import frozen_initializers
        frozen = set(frozen_initializers(ir, freeze))
    return NndModule(ir, frozen)


class _Param:
    """The layer entry of a `param` node: its output is the parameter."""
    @staticmethod
    def reference(a):
        return lambda xs, p: list(p.values())

    @staticmethod
    def train_reference(a):
        return None

    @staticmethod
    def always_train(a):
        return False


_PARAM = _Param()


class NndModule(nn.Module):
    """One nnd model; forward(*inputs, in the declared order, or by name)
    returns its output (one) or a tuple of them (`output_names` gives the
    order)."""

    def __init__(self, ir, frozen=frozenset()):
        super().__init__()
        from .layers import load_all
        registry = load_all()
        self.input_names = [ir.node(n)["name"] for n in ir.inputs]
        self.output_names = [o.name for o in ir.outputs]
        self._outputs = [(o.node, o.port) for o in ir.outputs]
        # The layer that makes each output: nndc train reads a Sigmoid's or Softmax's as probabilities.
        self.output_kinds = [ir.node(o.node)["kind"] for o in ir.outputs]
        self.input_shapes = [ir.node(n)["shapes"][0] for n in ir.inputs]
        self.output_shapes = [ir.node(o.node)["shapes"][o.port] for o in ir.outputs]
        self.training_attrs = per_parameter(ir)
        self._steps = []      # (node id, layer entry, attrs, inputs, holder path, freezes its statistics)
        self._inputs = list(ir.inputs)
        self._params: dict = {}   # full name -> (holder path, local name)
        for n in ir.order():
            d = ir.node(n)
            if d["kind"] == "Input":
                continue
            a = d["attrs"]
            if d["kind"] == "Param":   # a learned tensor: `param` in the program
                self._add_param(n, d, frozen)
                continue
            holder = self._holder(d["name"]) if a.get("weights") else None
            names = []
            for pname, w in (a.get("weights") or {}).items():
                full = f"{d['name']}.{pname}"
                t = torch.from_numpy(d["arrays"][pname].copy())
                sub, _, local = pname.rpartition(".")   # MultiheadAttention's `out_proj.weight`
                h = self._holder(f"{d['name']}.{sub}") if sub else holder
                if w.buffer:
                    h.register_buffer(local, t)
                else:
                    trainable = full not in frozen and self.training_attrs.get(full, {}).get("trainable", True)
                    h.register_parameter(local, nn.Parameter(t, requires_grad=bool(trainable)))
                names.append(pname)
            # Keras' rule: a frozen layer with statistics (BatchNorm) keeps them, in train() too.
            keep_stats = holder is not None and any(w.buffer for w in a["weights"].values()) and not any(
                p.requires_grad for p in holder.parameters(recurse=False))
            self._steps.append((n, registry[d["kind"]], a, ir.inputs_of(n), d["name"], tuple(names), keep_stats))
        self._fns: dict = {}

    def _add_param(self, n, d, frozen) -> None:
        """A `param` is held under its own name (`encoder.pos_embedding`:
        attribute `pos_embedding` of the submodule `encoder`), as torch's
        nn.Parameter attributes are."""
        from .ir import weight_name
        ((pname, w),) = d["attrs"]["weights"].items()
        full = weight_name(d, pname, w)
        path, _, local = full.rpartition(".")
        trainable = full not in frozen and self.training_attrs.get(full, {}).get("trainable", True)
        t = torch.from_numpy(d["arrays"][pname].copy())
        (self._holder(path) if path else self).register_parameter(local, nn.Parameter(t, requires_grad=trainable))
        self._steps.append((n, _PARAM, d["attrs"], [], path, (local,), False))

    def _holder(self, dotted: str) -> nn.Module:
        m = self
        for part in dotted.split("."):
            sub = m._modules.get(part)
            if sub is None:
                if hasattr(m, part):
                    raise ValueError(f"layer name `{dotted}`: `{part}` is already a parameter")
                sub = nn.Module()
                m.add_module(part, sub)
            m = sub
        return m

    def _fn(self, spec, a, training: bool):
        key = (id(a), training)
        f = self._fns.get(key)
        if f is None:
            f = spec.train_reference(a) if training else None
            f = f or spec.reference(a)
            self._fns[key] = f
        return f

    def forward(self, *xs, **named):
        if named:
            xs = tuple(xs) + tuple(named[k] for k in self.input_names[len(xs):])
        if len(xs) != len(self.input_names):
            raise TypeError(f"the model takes {len(self.input_names)} inputs ({', '.join(self.input_names)}); "
                            f"got {len(xs)}")
        vals = {(n, 0): x for n, x in zip(self._inputs, xs)}
        for n, spec, a, ins, path, pnames, keep_stats in self._steps:
            h = self.get_submodule(path) if pnames else None
            p = {k: functools.reduce(getattr, k.split("."), h) for k in pnames}
            training = (self.training and not keep_stats) or spec.always_train(a)
            outs = self._fn(spec, a, training)([vals[i] for i in ins], p)
            for port, o in enumerate(outs):
                vals[(n, port)] = o
        res = tuple(vals[o] for o in self._outputs)
        return res[0] if len(res) == 1 else res

    # ------------------------------------------------------ training attributes
    def regularization_loss(self):
        """The sum of the l1 (factor * sum |w|) and l2 (factor * sum w^2, as
        Keras: no 1/2) terms the program writes, over trainable parameters."""
        total = torch.zeros(())
        for full, t in self.training_attrs.items():
            w = self.get_parameter(full)
            if not w.requires_grad:
                continue
            if t.get("l1"):
                total = total + t["l1"] * w.abs().sum()
            if t.get("l2"):
                total = total + t["l2"] * (w * w).sum()
        return total

    @torch.no_grad()
    def apply_constraints(self):
        """Max-norm, after each optimizer step: each output unit's weights
        (dim 0; the norm over all other dims) scaled to a norm of at most
        max_norm, as Keras' MaxNorm (w * clip(n, 0, c) / (eps + n), eps 1e-7)."""
        for full, t in self.training_attrs.items():
            c = t.get("max_norm")
            if not c:
                continue
            w = self.get_parameter(full)
            n = w.flatten(1).norm(dim=1).view(-1, *([1] * (w.dim() - 1)))
            w.mul_(n.clamp(0, c) / (1e-7 + n))

    def frozen_names(self) -> list:
        return [k for k, p in self.named_parameters() if not p.requires_grad]
