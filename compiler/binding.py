"""Binding named weights onto a model: `nndc compile --weights FILE`.

A parameter's name is `<layer name>.<weight name>` (`layer1.0.conv1.weight`,
`bn1.running_mean`), the same as its ONNX initializer; the standard library
names its layers so that torchvision's `state_dict()` keys bind as they are.

Files: `.npz` (numpy), `.safetensors` (the optional `safetensors` package,
`pip install 'nnd[weights]'`) and `.onnx` (the initializers of an existing
model, for transfer learning). Every tensor is converted to float32.

Strict by default: one `WeightError` lists every missing, unexpected and
wrongly shaped tensor. With `partial=True` what matches is bound and the rest
is left to the deterministic initialization (`weights.materialize`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field

import numpy as np

from .diagnostics import WeightError
from .ir import IR

FORMATS = (".npz", ".safetensors", ".onnx")
LIST_CAP = 20                       # entries shown per list in messages
IGNORED_SUFFIXES = (".num_batches_tracked",)   # torch BatchNorm's step counter
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")   # what a program can name


@dataclass
class BindReport:
    """What `bind` did. Shapes are tuples; lists are in model order (file
    order for `unexpected`)."""

    source: str
    partial: bool = False
    total: int = 0                                   # parameter tensors the model has
    bound: list = field(default_factory=list)        # names
    missing: list = field(default_factory=list)      # (name, model shape): initialized instead
    unexpected: list = field(default_factory=list)   # (name, file shape): no such parameter
    mismatched: list = field(default_factory=list)   # (name, model shape, file shape)
    bad_dtype: list = field(default_factory=list)    # (name, dtype): not a number type
    ignored: list = field(default_factory=list)      # names skipped on purpose (num_batches_tracked, ONNX constants)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.bad_dtype)

    def summary(self) -> list[str]:
        """Lines for the CLI: what was bound, and with --partial what was not."""
        src = os.path.basename(self.source)
        lines = [f"bound {len(self.bound)} of {self.total} parameter tensors from {src}"]
        if self.partial:
            layers = list(dict.fromkeys(n.rsplit(".", 1)[0] for n in self.bound))
            if layers:
                shown = layers[:2 * LIST_CAP] + ([f"... and {len(layers) - 2 * LIST_CAP} more"]
                                                  if len(layers) > 2 * LIST_CAP else [])
                lines += _wrap("  bound        ", shown)
            lines += _capped([f"  initialized  {n} {_fmt(s)}" for n, s in self.missing], "initialized")
            skipped = [f"  skipped      {n} {_fmt(s)} (the model has no such parameter)"
                       for n, s in self.unexpected]
            skipped += [f"  skipped      {n} {_fmt(g)} (the model expects {_fmt(w)})"
                        for n, w, g in self.mismatched]
            skipped += [f"  skipped      {n} (dtype {d} is not a number type)" for n, d in self.bad_dtype]
            lines += _capped(skipped, "skipped")
        return lines


def _fmt(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _wrap(prefix: str, items: list[str], width: int = 100) -> list[str]:
    lines, cur = [], ""
    for i, it in enumerate(items):
        piece = it + ("," if i < len(items) - 1 else "")
        if cur and len(prefix) + len(cur) + 1 + len(piece) > width:
            lines.append(prefix + cur)
            cur, prefix = piece, " " * len(prefix)
        else:
            cur = f"{cur} {piece}" if cur else piece
    return lines + [prefix + cur]


def _capped(lines: list[str], what: str, cap: int = LIST_CAP) -> list[str]:
    if len(lines) <= cap:
        return lines
    return lines[:cap] + [f"  ... and {len(lines) - cap} more {what}"]


# ------------------------------------------------------------------ reading


def load(path: str) -> tuple[dict, list]:
    """The named arrays in a weights file, and the names ignored on purpose."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise WeightError(f"cannot read weights from `{path}`: unknown format `{ext or '(none)'}`; "
                          f"expected one of {', '.join(FORMATS)}")
    if not os.path.isfile(path):
        raise WeightError(f"cannot read weights from `{path}`: no such file")
    try:
        if ext == ".npz":
            return _load_npz(path), []
        if ext == ".safetensors":
            return _load_safetensors(path), []
        return _load_onnx(path)
    except WeightError:
        raise
    except Exception as e:  # a corrupt or truncated file: say so, no traceback
        raise WeightError(f"cannot read weights from `{path}`: {type(e).__name__}: {e}") from None


def _load_npz(path: str) -> dict:
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise WeightError(f"`{path}` holds a single array, not named arrays; save with np.savez(path, **named)")
    with z:
        return {k: z[k] for k in z.files}


def _load_safetensors(path: str) -> dict:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise WeightError("reading .safetensors needs the `safetensors` package: "
                          "pip install 'nnd[weights]'") from None
    return dict(load_file(path))


def _load_onnx(path: str) -> tuple[dict, list]:
    """Initializers that can be parameters: floating point, with a name a
    program can give (ONNX constants such as `fc/const` or `onnx::Reshape_7`
    are skipped)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)   # external data, if any, is read from beside the file
    arrays, ignored = {}, []
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
              onnx.TensorProto.BFLOAT16}
    for t in model.graph.initializer:
        if t.data_type in floats and _PARAM_NAME.match(t.name):
            arrays[t.name] = numpy_helper.to_array(t)
        else:
            ignored.append(t.name)
    return arrays, ignored


# ------------------------------------------------------------------ binding


def parameters(ir: IR) -> dict:
    """Full parameter name -> (node, weight name, Weight), in model order."""
    out = {}
    for n in ir.order():
        d = ir.node(n)
        for pname, w in (d["attrs"].get("weights") or {}).items():
            out[f"{d['name']}.{pname}"] = (n, pname, w)
    return out


def _fits(want: tuple, given: tuple, lenient: bool) -> bool:
    if tuple(given) == tuple(want):
        return True
    if not lenient:
        return False
    # An ONNX initializer stored reshaped for its op (a PReLU slope [C] as [C, 1, 1]).
    squeeze = lambda s: tuple(d for d in s if d != 1)   # noqa: E731
    return int(np.prod(given)) == int(np.prod(want)) and squeeze(given) == squeeze(want)


def bind(ir: IR, path: str, partial: bool = False) -> BindReport:
    """Store the arrays of `path` into the nodes' `arrays`. Raises WeightError
    listing every problem unless `partial` (then only when nothing matches)."""
    arrays, ignored = load(path)
    lenient = path.lower().endswith(".onnx")
    params = parameters(ir)
    rep = BindReport(path, partial, total=len(params), ignored=list(ignored))
    chosen = {}
    for name, arr in arrays.items():
        if name.endswith(IGNORED_SUFFIXES):
            rep.ignored.append(name)
            continue
        arr = np.asarray(arr)
        if name not in params:
            rep.unexpected.append((name, tuple(arr.shape)))
            continue
        n, pname, w = params[name]
        if arr.dtype.kind not in "fiu" and arr.dtype.name not in ("bfloat16",):
            rep.bad_dtype.append((name, str(arr.dtype)))
            continue
        if not _fits(w.shape, arr.shape, lenient):
            rep.mismatched.append((name, tuple(w.shape), tuple(arr.shape)))
            continue
        chosen[name] = np.ascontiguousarray(arr.astype(np.float32, copy=False).reshape(w.shape))
    rep.missing = [(k, tuple(w.shape)) for k, (_, _, w) in params.items() if k not in arrays]
    order = {k: i for i, k in enumerate(params)}
    rep.mismatched.sort(key=lambda t: order[t[0]])
    rep.bad_dtype.sort(key=lambda t: order[t[0]])
    if not rep.ok and not partial:
        raise WeightError(strict_message(rep, ir.name))
    if partial and not chosen and params:
        hint = _hint(rep)
        raise WeightError("\n".join([f"no tensor in `{path}` matches a parameter of model `{ir.name}`"]
                                    + _problem_lines(rep, guess=not hint)
                                    + ([f"  = note: {hint}"] if hint else [])))
    for name in params:   # bind in model order: deterministic
        if name in chosen:
            n, pname, _ = params[name]
            ir.node(n).setdefault("arrays", {})[pname] = chosen[name]
            rep.bound.append(name)
    return rep


def _problem_lines(rep: BindReport, guess: bool = True) -> list[str]:
    lines = _capped([f"  missing      {n} {_fmt(s)}" for n, s in rep.missing], "missing")
    by_shape: dict = {}
    for n, s in rep.missing:
        by_shape.setdefault(s, []).append(n)
    unexpected = []
    for i, (n, s) in enumerate(rep.unexpected):
        # a near name among the missing parameters of the same shape
        alt = _did_you_mean(n, by_shape.get(s, [])) if guess and i < LIST_CAP else None
        unexpected.append(f"  unexpected   {n} {_fmt(s)}" + (f" (did you mean `{alt}`?)" if alt else ""))
    lines += _capped(unexpected, "unexpected")
    lines += _capped([f"  wrong shape  {n}: the model expects {_fmt(w)}, the file has {_fmt(g)}"
                      for n, w, g in rep.mismatched], "with the wrong shape")
    lines += _capped([f"  wrong type   {n}: dtype {d} is not a number type" for n, d in rep.bad_dtype],
                     "with the wrong type")
    return lines


def strict_message(rep: BindReport, model: str) -> str:
    counts = [(len(rep.missing), "missing"), (len(rep.unexpected), "unexpected"),
              (len(rep.mismatched), "with the wrong shape"), (len(rep.bad_dtype), "with the wrong type")]
    what = ", ".join(f"{k} {w}" for k, w in counts if k)
    head = f"weights in `{rep.source}` do not fit model `{model}`: {what}"
    hint = _hint(rep)
    return "\n".join([head] + _problem_lines(rep, guess=not hint) + ([f"  = note: {hint}"] if hint else []) +
                      ["  = help: --partial binds the tensors that match and initializes the rest"])


def _did_you_mean(name: str, candidates: list[str]) -> str | None:
    from .diagnostics import did_you_mean
    return did_you_mean(name, candidates)


def _hint(rep: BindReport) -> str:
    """A prefix that every file name carries and the model's names lack (or
    the reverse), such as DataParallel's `module.`."""
    missing = {n for n, _ in rep.missing}
    given = [n for n, _ in rep.unexpected]
    if not missing or not given:
        return ""
    first = {n.split(".", 1)[0] for n in given if "." in n}
    if len(first) == 1:
        p = first.pop() + "."
        if sum(n[len(p):] in missing for n in given if n.startswith(p)) >= max(1, len(given) // 2):
            return f"the file's names start with `{p}`, the model's do not"
    first = {n.split(".", 1)[0] for n in missing if "." in n}
    if len(first) == 1:
        p = first.pop() + "."
        if sum(p + n in missing for n in given) >= max(1, len(given) // 2):
            return f"the model's names start with `{p}`, the file's do not"
    return ""


# ------------------------------------------------------------------ freezing


def check_freeze(ir: IR, patterns) -> None:
    """Every --freeze pattern must name a layer with parameters in the
    program as written (before the passes rewrite it)."""
    frozen_initializers(ir, patterns, strict=True)


def frozen_initializers(ir: IR, patterns, strict: bool = False) -> list[str]:
    """Initializer names of the parameters that `patterns` mark frozen, in
    model order (the order lowering writes them). A pattern is a glob over
    layer names (`layer1.*`, `conv1`), a block path (`layer1` freezes all
    inside it) or a full parameter name (`fc.bias`). With `strict`, a pattern
    that matches nothing is an error."""
    params = parameters(ir)
    hit = set()
    for pat in patterns:
        found = {full for full, (n, _, _) in params.items()
                 if _matches(ir.node(n)["name"], full, pat)}
        if not found and strict:
            paths = {full.rsplit(".", 1)[0] for full in params}
            paths |= {p.rsplit(".", k)[0] for p in paths for k in range(1, p.count(".") + 1)}
            alt = _did_you_mean(pat, sorted(paths))
            raise WeightError(f"--freeze `{pat}` matches no layer with parameters"
                              + (f"; did you mean `{alt}`?" if alt else ""))
        hit |= found
    return [full for full in params if full in hit]


def _matches(layer: str, full: str, pat: str) -> bool:
    return (fnmatch.fnmatchcase(layer, pat) or layer.startswith(pat + ".")
            or fnmatch.fnmatchcase(full, pat))


def mark_frozen(model, ir: IR, patterns) -> list[str]:
    """Record the frozen parameters of the compiled `ir` (after the passes:
    a BatchNorm folded into a convolution leaves its parameters in the
    convolution's, which are frozen when the convolution is) in the model's
    metadata as `nnd.frozen`, comma-separated initializer names; returns them.
    `model` is a ModelProto, or anything holding one as `.proto`."""
    names = frozen_initializers(ir, patterns)
    props = getattr(model, "proto", model).metadata_props
    for p in [p for p in props if p.key == "nnd.frozen"]:
        props.remove(p)
    props.add(key="nnd.frozen", value=",".join(names))
    return names
