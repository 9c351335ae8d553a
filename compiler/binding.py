"""Binding named weights onto a model: `nndc compile --weights FILE`.

A parameter's name is `<layer name>.<weight name>` (`layer1.0.conv1.weight`,
`bn1.running_mean`), the same as its ONNX initializer; the standard library
names its layers so that torchvision's `state_dict()` keys bind as they are.

Files: `.npz` (numpy), `.safetensors` (the optional `safetensors` package,
`pip install 'nnd[weights]'`) and `.onnx` (the initializers of an existing
model, for transfer learning). Every tensor is converted to float32 (bfloat16,
float16, float64 and integers); a tensor holding NaN, infinities or values
too large for float32 is refused unless `allow_nonfinite`.

Strict by default: one `WeightError` lists every missing, unexpected and
wrongly shaped tensor. With `partial=True` what matches is bound and the rest
is left to the deterministic initialization (`weights.materialize`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
from dataclasses import dataclass, field

import numpy as np

from .diagnostics import WeightError
from .ir import IR

FORMATS = (".npz", ".safetensors", ".onnx")
LIST_CAP = 20                       # entries shown per list in messages
IGNORED_SUFFIXES = (".num_batches_tracked",)   # torch BatchNorm's step counter
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$")   # what a program can name


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
    nonfinite: list = field(default_factory=list)    # (name, what): NaN, inf, too large for float32
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


def file_problem(path: str) -> str | None:
    """Why `path` cannot be read as a weights file, from its status alone
    (never opened: a named pipe would block), or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return e.strerror or str(e)
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file" + (" (a named pipe)" if stat.S_ISFIFO(st.st_mode) else "")
    if not os.access(path, os.R_OK):
        return "permission denied"
    if st.st_size == 0:
        return "the file is empty"
    return None


_WHAT = {".npz": "a valid .npz file", ".safetensors": "a valid .safetensors file", ".onnx": "a valid ONNX model"}


def load(path: str) -> tuple[dict, list]:
    """The named arrays in a weights file, and the names ignored on purpose."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise WeightError(f"cannot read weights from `{path}`: unknown format `{ext or '(none)'}`; "
                          f"expected one of {', '.join(FORMATS)}")
    problem = file_problem(path)
    if problem == "the file is empty":
        raise WeightError(f"cannot read weights from `{path}`: the file is empty (not {_WHAT[ext]})")
    if problem:
        raise WeightError(f"cannot read weights from `{path}`: {problem}")
    try:
        if ext == ".npz":
            return _load_npz(path), []
        if ext == ".safetensors":
            return _load_safetensors(path), []
        return _load_onnx(path)
    except (WeightError, MemoryError):
        raise
    except OSError as e:
        raise WeightError(f"cannot read weights from `{path}`: {e.strerror or e}") from None
    except Exception as e:  # a corrupt or truncated file: say so, no traceback
        raise WeightError(f"cannot read weights from `{path}`: not {_WHAT[ext]} "
                          f"({type(e).__name__}: {e})") from None


def _load_npz(path: str) -> dict:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise WeightError(f"`{path}` holds a single array, not named arrays; save with np.savez(path, **named)")
    if not magic.startswith(b"PK"):   # np.load would take it for a pickle and advise loading it unsafely
        raise WeightError(f"cannot read weights from `{path}`: not a valid .npz file "
                          "(not a zip archive of .npy arrays, as np.savez writes)")
    with np.load(path, allow_pickle=False) as z:
        out = {}
        for k in z.files:
            try:
                out[k] = z[k]
            except ValueError as e:
                if "allow_pickle" not in str(e):
                    raise
                raise WeightError(f"cannot read weights from `{path}`: array `{k}` holds Python objects "
                                  "(pickled data), which nndc never loads") from None
        return out


# safetensors dtypes read as they are (little-endian), then converted to float32
# by `bind`; BF16 is widened here (numpy has no bfloat16 of its own).
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
                       "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                       "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _load_safetensors(path: str) -> dict:
    try:
        from safetensors import safe_open
    except ImportError:
        raise WeightError("reading .safetensors needs the `safetensors` package: "
                          "pip install 'nnd[weights]'") from None
    with safe_open(path, framework="numpy") as f:   # checks the header, offsets and file size
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    bad = [f"{k} ({d})" for k, d in dtypes.items() if d not in _SAFETENSORS_DTYPES]
    if bad:
        raise WeightError(f"cannot read weights from `{path}`: {len(bad)} tensor{'s' * (len(bad) > 1)} "
                          f"of a type nndc cannot convert to float32: {', '.join(bad[:LIST_CAP])}"
                          + (f" and {len(bad) - LIST_CAP} more" if len(bad) > LIST_CAP else "")
                          + "; supported: F64, F32, F16, BF16, integers")
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
        out = {}
        for k in sorted(dtypes, key=lambda k: header[k]["data_offsets"][0]):   # file order
            (b, e), dt = header[k]["data_offsets"], np.dtype(_SAFETENSORS_DTYPES[dtypes[k]])
            fh.seek(8 + n + b)
            a = np.fromfile(fh, dtype=dt, count=(e - b) // dt.itemsize)
            if dtypes[k] == "BF16":   # the high half of a float32: shift the bits into place
                a = (a.astype(np.uint32) << 16).view(np.float32)
            out[k] = a.reshape(header[k]["shape"])
    return out


class _OnnxArrays(dict):
    folded = False   # nndc compiled it with its passes: BatchNorm folded into the convolutions


def _load_onnx(path: str) -> tuple[dict, list]:
    """Initializers that can be parameters: floating point, with a name a
    program can give (ONNX constants such as `fc/const` or `onnx::Reshape_7`
    are skipped)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)   # external data, if any, is read from beside the file
    if not model.HasField("graph"):   # protobuf reads many a stray file as an empty message
        raise WeightError(f"cannot read weights from `{path}`: not a valid ONNX model (it has no graph)")
    arrays, ignored = _OnnxArrays(), []
    props = {p.key: p.value for p in model.metadata_props}
    # nndc's own output, optimized (files before nnd.optimized was written were, by default)
    arrays.folded = model.producer_name == "nndc" and props.get("nnd.optimized", "1") == "1"
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
    """Full parameter name -> (node, weight name, Weight), in model order;
    a weight that nodes share (`shared`) once, at its first use."""
    return ir.parameters()


def _fits(want: tuple, given: tuple, lenient: bool) -> bool:
    if tuple(given) == tuple(want):
        return True
    if not lenient:
        return False
    # An ONNX initializer stored reshaped for its op (a PReLU slope [C] as [C, 1, 1]).
    squeeze = lambda s: tuple(d for d in s if d != 1)   # noqa: E731
    return int(np.prod(given)) == int(np.prod(want)) and squeeze(given) == squeeze(want)


def bind(ir: IR, path: str, partial: bool = False, allow_nonfinite: bool = False) -> BindReport:
    """Store the arrays of `path` into the nodes' `arrays`. Raises WeightError
    listing every problem unless `partial` (then only when nothing matches).
    A tensor to bind holding NaN, infinities or values too large for float32
    is an error too (with `partial` as well) unless `allow_nonfinite`."""
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
        with np.errstate(over="ignore", invalid="ignore"):   # an overflow is reported below, by name
            a = arr.astype(np.float32, copy=False)
        why = "" if allow_nonfinite else _not_finite(arr, a)
        if why:
            rep.nonfinite.append((name, why))
        chosen[name] = np.ascontiguousarray(a.reshape(w.shape))
    rep.missing = [(k, tuple(w.shape)) for k, (_, _, w) in params.items() if k not in arrays]
    order = {k: i for i, k in enumerate(params)}
    if getattr(arrays, "folded", False) and (rep.missing or rep.mismatched):
        raise WeightError(
            f"`{path}` cannot give model `{ir.name}` its parameters: nndc compiled it with the optimization "
            f"passes, which fold BatchNorm into the convolutions ({len(rep.missing)} parameters missing, "
            f"{len(rep.unexpected)} unexpected); with --partial every BatchNorm would silently start over\n"
            f"  = help: compile it with -O0 to keep every parameter bindable, or bind the original weights "
            f"(.safetensors, .npz)")
    rep.mismatched.sort(key=lambda t: order[t[0]])
    rep.bad_dtype.sort(key=lambda t: order[t[0]])
    rep.nonfinite.sort(key=lambda t: order[t[0]])
    if (not rep.ok and not partial) or rep.nonfinite:
        raise WeightError(strict_message(rep, ir.name, fit=not partial))
    if partial and not chosen and params:
        hint = _hint(rep)
        raise WeightError("\n".join([f"no tensor in `{path}` matches a parameter of model `{ir.name}`"]
                                    + _problem_lines(rep, guess=not hint)
                                    + ([f"  = note: {hint}"] if hint else [])))
    for name, n, pname, _ in ir.weights():   # bind in model order: deterministic
        if name in chosen:   # every use of a shared weight gets the one array
            ir.node(n).setdefault("arrays", {})[pname] = chosen[name]
    rep.bound = [name for name in params if name in chosen]
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


def strict_message(rep: BindReport, model: str, fit: bool = True) -> str:
    """Every problem in one message: names that do not fit (unless `fit` is
    false, as with --partial) and values that are not finite."""
    fit = fit and not rep.ok
    counts = [(len(rep.missing), "missing"), (len(rep.unexpected), "unexpected"),
              (len(rep.mismatched), "with the wrong shape"), (len(rep.bad_dtype), "with the wrong type")]
    counts = (counts if fit else []) + [(len(rep.nonfinite), "not finite")]
    what = ", ".join(f"{k} {w}" for k, w in counts if k)
    head = f"weights in `{rep.source}` {'do not fit' if fit else 'cannot be bound to'} model `{model}`: {what}"
    hint = _hint(rep) if fit else ""
    lines = [head] + (_problem_lines(rep, guess=not hint) if fit else [])
    lines += _capped([f"  not finite   {n}: {why}" for n, why in rep.nonfinite], "not finite")
    lines += [f"  = note: {hint}"] if hint else []
    if fit:
        lines.append("  = help: --partial binds the tensors that match and initializes the rest")
    if rep.nonfinite:
        lines.append("  = help: --allow-nonfinite (allow_nonfinite=True) binds them as they are, "
                     "too large values as infinities")
    return "\n".join(lines)


def _not_finite(src: np.ndarray, a: np.ndarray) -> str:
    """What is wrong with the float32 `a` (converted from `src`): '' when every
    value is finite."""
    if a.size == 0 or (np.isfinite(a.min()) and np.isfinite(a.max())):   # NaN propagates through both
        return ""
    nan, inf, over = int(np.isnan(a).sum()), int(np.isinf(a).sum()), 0
    if src.dtype.kind == "f" and src.dtype.itemsize > 4:   # float64 beyond float32's range became inf
        over = inf - int(np.isinf(src).sum())
        inf -= over
    parts = [f"{nan} NaN"] * bool(nan) + [f"{inf} infinite"] * bool(inf)
    if over:
        top = float(np.abs(src[np.isfinite(src)]).max())
        parts.append(f"{over} value{'s' * (over > 1)} too large for float32 "
                     f"(up to {top:.3g}; float32 ends at 3.4e+38)")
    return ", ".join(parts)


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
        found = {full for full, (_, pname, _) in params.items() if _matches(_owner(full, pname), full, pat)}
        if not found and strict:
            paths = {full.rsplit(".", 1)[0] for full in params}
            paths |= {p.rsplit(".", k)[0] for p in paths for k in range(1, p.count(".") + 1)}
            alt = _did_you_mean(pat, sorted(paths))
            raise WeightError(f"--freeze `{pat}` matches no layer with parameters"
                              + (f"; did you mean `{alt}`?" if alt else ""))
        hit |= found
    return [full for full in params if full in hit]


def _owner(full: str, pname: str) -> str:
    """The layer path a parameter belongs to: its name without the weight's
    (`tower.conv1` for `tower.conv1.weight`, whichever use of a shared
    instance holds it); a `param` is its own path."""
    return full[:-len(pname) - 1] if full.endswith("." + pname) else full


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
