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

import torch
from torch import nn

from .ir import weight_name
from .shapes import ATOMS, Sym
from .training_attrs import per_parameter


def _input_symbols(ir) -> dict:
    """Each symbol of the inputs' shapes -> (input index, axis, coefficient,
    constant), as lowering finds them (`[N, 2*H + 1]`: H from dimension 1)."""
    out: dict = {}
    for i, n in enumerate(ir.inputs):
        for axis, dim in enumerate(ir.node(n)["shapes"][0]):
            if isinstance(dim, Sym) and len(dim.terms) == 1 and next(iter(dim.terms)) not in ATOMS:
                (atom, c), = dim.terms.items()
                out.setdefault(atom, (i, axis, c, dim.const))
    return out


def _has_sym(v) -> bool:
    if isinstance(v, Sym):
        return True
    if isinstance(v, dict):
        return any(_has_sym(x) for k, x in v.items() if k != "weights")
    return isinstance(v, (list, tuple)) and any(_has_sym(x) for x in v)


def _size(d, sizes: dict) -> int:
    """A symbolic size's value, given its input symbols' values."""
    if isinstance(d, int):
        return d
    total = d.const
    for atom, c in d.terms.items():
        if atom in ATOMS:
            op, x, y = ATOMS[atom]
            x, y = _size(x, sizes), _size(y, sizes)
            v = x * y if op == "*" else x // y if op == "//" else -(-x // y)
        else:
            v = sizes[atom]
        total += c * v
    return total


def _resolve(v, sizes: dict):
    """Attributes with every symbolic size replaced by its value."""
    if isinstance(v, Sym):
        return _size(v, sizes)
    if isinstance(v, dict):
        return type(v)({k: x if k == "weights" else _resolve(x, sizes) for k, x in v.items()})
    if isinstance(v, (list, tuple)):
        return type(v)(_resolve(x, sizes) for x in v)
    return v


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
        # (node id, layer entry (None: a `param`), attrs, inputs, {weight: full name}, keeps its statistics,
        # has sizes known at run time)
        self._steps = []
        self._inputs = list(ir.inputs)
        self._symbols = _input_symbols(ir)
        self._kinds: dict = {}    # full parameter name -> is a buffer
        for n in ir.order():
            d = ir.node(n)
            if d["kind"] == "Input":
                continue
            a = d["attrs"]
            names = {}
            for pname, w in (a.get("weights") or {}).items():
                full = weight_name(d, pname, w)   # a `param`'s own name; a shared use's first-use name
                names[pname] = full
                if full in self._kinds:          # a later use of a `shared` instance: the same tensor
                    continue
                path, _, attr = full.rpartition(".")
                holder = self._holder(path) if path else self
                t = torch.from_numpy(d["arrays"][pname].copy())
                if w.buffer:
                    holder.register_buffer(attr, t)
                else:
                    trainable = full not in frozen and self.training_attrs.get(full, {}).get("trainable", True)
                    holder.register_parameter(attr, nn.Parameter(t, requires_grad=bool(trainable)))
                self._kinds[full] = w.buffer
            # Keras' rule: a frozen layer with statistics (BatchNorm) keeps them, in train() too.
            keep_stats = any(self._kinds[f] for f in names.values()) and not any(
                not self._kinds[f] and self.get_parameter(f).requires_grad for f in names.values())
            spec = None if d["kind"] == "Param" else registry[d["kind"]]
            self._steps.append((n, spec, a, ir.inputs_of(n), names, keep_stats, _has_sym(a)))
        self._fns: dict = {}

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

    def _fn(self, spec, a, training: bool, sizes: dict | None):
        key = (id(a), training, tuple(sorted(sizes.items())) if sizes is not None else None)
        f = self._fns.get(key)
        if f is None:
            if sizes is not None:   # sizes known at run time (`x.shape[0]`, `Upsample(size = y.shape[2:])`)
                a = _resolve(a, sizes)
            f = spec.train_reference(a) if training else None
            f = f or spec.reference(a)
            self._fns[key] = f
        return f

    def _tensor(self, full: str):
        return self.get_buffer(full) if self._kinds[full] else self.get_parameter(full)

    def forward(self, *xs, **named):
        if named:
            xs = tuple(xs) + tuple(named[k] for k in self.input_names[len(xs):])
        if len(xs) != len(self.input_names):
            raise TypeError(f"the model takes {len(self.input_names)} inputs ({', '.join(self.input_names)}); "
                            f"got {len(xs)}")
        vals = {(n, 0): x for n, x in zip(self._inputs, xs)}
        sizes = None
        for n, spec, a, ins, names, keep_stats, has_sym in self._steps:
            p = {k: self._tensor(full) for k, full in names.items()}
            if spec is None:   # a `param`: the tensor itself
                vals[(n, 0)] = next(iter(p.values()))
                continue
            if has_sym and sizes is None:
                sizes = {atom: (int(xs[i].shape[axis]) - k) // c for atom, (i, axis, c, k) in self._symbols.items()}
            training = (self.training and not keep_stats) or spec.always_train(a)
            outs = self._fn(spec, a, training, sizes if has_sym else None)([vals[i] for i in ins], p)
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
