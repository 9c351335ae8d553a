"""Recurrent layers: RNN, LSTM and GRU as PyTorch's nn.RNN, nn.LSTM and
nn.GRU, lowered to the ONNX ops of the same names, one per stacked layer."""

from __future__ import annotations

from ..shapes import fmt_shape, is_concrete
from .base import P, Case, Layer, ShapeError, Weight, fan_in_bound, numel, register

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
# Row blocks of PyTorch's stacked gate weights, in ONNX's order.
_ORDER = {"RNN": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}


@register
class Recurrent(Layer):
    """Elman RNN, LSTM and GRU over a sequence, as PyTorch's modules.

    Input `[T, N, F]` (`[N, T, F]` with `batch_first = true`); the sequence
    length T may be symbolic (one compiled model runs every length), F must be
    concrete (the input size is inferred from it). Outputs, as PyTorch's:
    `LSTM` gives `output, h_n, c_n` (`out, h, c = x -> LSTM(256)`), `RNN` and
    `GRU` give `output, h_n`. `output` is `[T, N, D*H]` (`[N, T, D*H]` with
    `batch_first`), `h_n` and `c_n` are `[num_layers*D, N, H]` whatever
    `batch_first` is (D = 2 when `bidirectional`). Initial states are further
    inputs, as PyTorch's `(h0, c0)`: `(x, h0, c0) -> LSTM(...)`,
    `(x, h0) -> GRU(...)`, each `[num_layers*D, N, H]`; without them they are
    zeros. `dropout` (between stacked layers) drops in training (nnd.torch in
    `train()`, as PyTorch) and is the identity at inference.
    `proj_size` (LSTM with projections) is not supported: ONNX's LSTM has no
    projection. The outputs are separate tensors, so the next layer reads one
    by name: `out, h, c = x -> LSTM(64)`, then `y = out -> Linear(10)`
    (`x -> LSTM(64) -> Linear(10)` would give Linear three tensors, E0115).

    Weights are PyTorch's, in its layout and under its names, so a module's
    `state_dict()` binds by name (`<layer name>.weight_ih_l0`):
    `weight_ih_l{k}` `[G*H, in]` (in = F for the first layer, D*H after),
    `weight_hh_l{k}` `[G*H, H]`, `bias_ih_l{k}` and `bias_hh_l{k}` `[G*H]`,
    with the suffix `_reverse` for the backward direction; G = 4 for LSTM
    (gates i, f, g, o), 3 for GRU (r, z, n), 1 for RNN. They are initialized
    as PyTorch's, uniform in ±1/sqrt(hidden_size). ONNX's ops want the gates
    in another order (LSTM i, o, f, c; GRU z, r, h) and the directions
    stacked: the lowering reorders rows with a `Gather` on each initializer,
    a constant subgraph that onnxruntime folds when it loads the model, so
    the ONNX file keeps the parameters under PyTorch's names too (and binds
    back with `--weights model.onnx`). GRU lowers with
    `linear_before_reset = 1`, which is PyTorch's GRU (the reset gate
    multiplies `W_hn h + b_hn`)."""

    names = {"RNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}
    params = (P("hidden_size", "int", doc="H, the size of the hidden state"),
              P("num_layers", "int", 1, doc="stacked layers, each reading the previous one's output"),
              P("bias", "bool", True),
              P("batch_first", "bool", False, doc="input and output are [N, T, F] instead of [T, N, F]"),
              P("dropout", "float", 0.0, doc="between stacked layers in training; the identity at inference"),
              P("bidirectional", "bool", False),
              P("nonlinearity", "str", "tanh", choices=("tanh", "relu"), doc="`RNN` only"))
    n_inputs = None
    inputs_doc = "Takes the sequence, then optionally the initial states (`h0`, and `c0` for LSTM)."
    cases = [Case("LSTM(6)", [[5, 2, 4]]),
             Case("LSTM(5, num_layers = 2, bidirectional = true)", [[6, 3, 4]]),
             Case("LSTM(4, batch_first = true, bias = false)", [[2, 7, 3]]),
             Case("LSTM(3, num_layers = 2, batch_first = true, bidirectional = true, dropout = 0.3)",
                  [[2, 5, 4], [4, 2, 3], [4, 2, 3]]),
             Case("GRU(6)", [[5, 2, 4]]),
             Case("GRU(4, num_layers = 2, bidirectional = true, bias = false)", [[6, 3, 5]]),
             Case("GRU(5, batch_first = true)", [[3, 6, 2], [1, 3, 5]]),
             Case("RNN(6)", [[5, 2, 4]]),
             Case("RNN(4, num_layers = 2, nonlinearity = \"relu\", bidirectional = true)", [[6, 2, 3]]),
             Case("RNN(3, batch_first = true, bias = false, num_layers = 2)", [[2, 5, 4], [2, 2, 3]])]

    def n_outputs(self, a):
        return 3 if a.kind == "LSTM" else 2

    def validate(self, a):
        for name in ("hidden_size", "num_layers"):
            if a[name] <= 0:
                raise ShapeError("E0107", f"`{name}` must be positive; got {a[name]}", arg=name)
        if not 0.0 <= a.dropout < 1.0:
            raise ShapeError("E0107", f"dropout probability must be in [0, 1); got {a.dropout}", arg="dropout")
        if a.kind != "RNN" and a.nonlinearity != "tanh":
            raise ShapeError("E0107", f"`nonlinearity` is a parameter of `RNN`, not `{a.kind}`",
                             arg="nonlinearity")

    def infer(self, a, ins):
        self.validate(a)
        x, states = ins[0], ins[1:]
        n_states = 2 if a.kind == "LSTM" else 1
        if len(states) not in (0, n_states):
            what = "`h0` and `c0`" if a.kind == "LSTM" else "`h0`"
            raise ShapeError("E0115", f"`{a.kind}` takes the sequence, optionally followed by {what}; "
                             f"got {len(ins)} tensors")
        layout = "[N, T, features]" if a.batch_first else "[T, N, features]"
        if len(x) != 3:
            raise ShapeError("E0310", f"`{a.kind}` expects {layout}, got {fmt_shape(x)}",
                             help=None if a.batch_first else "with the batch first, write `batch_first = true`")
        feats = x[2]
        if not is_concrete(feats):
            raise ShapeError("E0305", f"`{a.kind}` needs a concrete input size; got `{feats}`", dim=2)
        t, n = (x[1], x[0]) if a.batch_first else (x[0], x[1])
        d, h = 2 if a.bidirectional else 1, a.hidden_size
        state = (a.num_layers * d, n, h)
        for name, s in zip(("h0", "c0"), states):
            if tuple(s) != state:
                raise ShapeError("E0311", f"`{a.kind}` needs `{name}` of shape {fmt_shape(state)} "
                                 f"([num_layers * directions, N, hidden_size]); got {fmt_shape(s)}")
        a.input_size = feats
        g, b = _GATES[a.kind], fan_in_bound(h)
        for layer in range(a.num_layers):
            fin = feats if layer == 0 else d * h
            for sfx in _suffixes(a, layer):
                a.weights["weight_ih" + sfx] = Weight((g * h, fin), bound=b)
                a.weights["weight_hh" + sfx] = Weight((g * h, h), bound=b)
                if a.bias:
                    a.weights["bias_ih" + sfx] = Weight((g * h,), bound=b)
                    a.weights["bias_hh" + sfx] = Weight((g * h,), bound=b)
        out = (n, t, d * h) if a.batch_first else (t, n, d * h)
        return [out] + [state] * n_states

    def macs(self, a, ins, outs):   # every step of every sequence: each gate matrix once
        x = ins[0]
        steps = x[0] * x[1]
        return steps * sum(numel(w.shape) for k, w in a.weights.items() if k.startswith("weight"))

    def lower(self, e, a, ins):
        x, states = ins[0], ins[1:]
        d, h = 2 if a.bidirectional else 1, a.hidden_size
        rows = e.const([_rows(a.kind, h)], hint="gate_order")   # [1, G*H]: a Gather gives [1, G*H, in]
        if a.batch_first:
            x = e.op("Transpose", [x], perm=[1, 0, 2])
        attrs = {"hidden_size": h, "direction": "bidirectional" if d == 2 else "forward"}
        if a.kind == "GRU":
            attrs["linear_before_reset"] = 1
        if a.kind == "RNN":
            attrs["activations"] = ["Relu" if a.nonlinearity == "relu" else "Tanh"] * d
        hs, cs = [], []
        for layer in range(a.num_layers):
            sfx = _suffixes(a, layer)
            w = _stack(e, [e.op("Gather", [e.weight("weight_ih" + s), rows], axis=0) for s in sfx])
            r = _stack(e, [e.op("Gather", [e.weight("weight_hh" + s), rows], axis=0) for s in sfx])
            b = ""
            if a.bias:
                b = _stack(e, [e.op("Concat", [e.op("Gather", [e.weight(k + s), rows], axis=0)
                                               for k in ("bias_ih", "bias_hh")], axis=1) for s in sfx])
            inputs = [x, w, r, b]
            if states:
                span = (e.const([layer * d]), e.const([(layer + 1) * d]), e.const([0]))
                inputs += [""] + [e.op("Slice", [s, *span]) for s in states]
            while inputs[-1] == "":
                inputs.pop()
            outs = e.op(a.kind, inputs, n_out=3 if a.kind == "LSTM" else 2, **attrs)
            y = outs[0]   # [T, D, N, H]
            hs.append(outs[1])
            if a.kind == "LSTM":
                cs.append(outs[2])
            if d == 1:
                x = e.op("Squeeze", [y, e.const([1])])
            else:
                x = e.op("Reshape", [e.op("Transpose", [y], perm=[0, 2, 1, 3]), e.const([0, 0, -1])])
        if a.batch_first:
            x = e.op("Transpose", [x], perm=[1, 0, 2])
        concat = lambda ts: ts[0] if len(ts) == 1 else e.op("Concat", ts, axis=0)   # noqa: E731
        return [x, concat(hs)] + ([concat(cs)] if a.kind == "LSTM" else [])

    def reference(self, a):
        return self._run(a, training=False)

    def train_reference(self, a):
        # Dropout between stacked layers, as PyTorch's modules in train().
        return self._run(a, training=True) if a.dropout > 0 and a.num_layers > 1 else None

    def _run(self, a, training: bool):
        import torch
        from torch.func import functional_call
        cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[a.kind]
        kw = {"nonlinearity": a.nonlinearity} if a.kind == "RNN" else {}
        # torch's module with the caller's parameters (functional_call), so gradients reach them; on "meta"
        # it holds no weights of its own and draws no random numbers.
        m = cls(a.input_size, a.hidden_size, num_layers=a.num_layers, bias=a.bias, batch_first=a.batch_first,
                dropout=a.dropout, bidirectional=a.bidirectional, device="meta", **kw).train(training)

        def run(xs, params):
            states = xs[1:]
            args = (xs[0],) if not states else (xs[0], tuple(states) if a.kind == "LSTM" else states[0])
            out, st = functional_call(m, params, args, strict=True)
            return [out] + (list(st) if a.kind == "LSTM" else [st])
        return run


def _suffixes(a, layer: int) -> list[str]:
    """PyTorch's parameter name suffixes of one stacked layer, per direction."""
    return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if a.bidirectional else [])


def _rows(kind: str, h: int) -> list[int]:
    """The rows of PyTorch's stacked gate matrix, in ONNX's gate order."""
    return [i for blk in _ORDER[kind] for i in range(blk * h, (blk + 1) * h)]


def _stack(e, per_direction: list[str]) -> str:
    """[1, ...] tensors, one per direction, as [D, ...]."""
    return per_direction[0] if len(per_direction) == 1 else e.op("Concat", per_direction, axis=0)
