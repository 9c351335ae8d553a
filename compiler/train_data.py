"""`nndc train`'s data: an .npz file with one array per model input (named
as the input) and one per trained output (named as the output: its target),
checked before any training: every array present, the same number of
samples in each, the declared sizes, a usable dtype, only finite values.
A problem is a DataError (exit 2), worded for the user."""

from __future__ import annotations

import numpy as np

from .shapes import fmt_shape


class DataError(Exception):
    pass


LOSSES = ("mse", "mae", "bce", "ce")


def parse_losses(specs: list, outputs: list) -> dict:
    """`--loss OUTPUT=KIND[:WEIGHT]` -> {output: (kind, weight)}; by default
    every output gets mse with weight 1."""
    if not specs:
        return {o: ("mse", 1.0) for o in outputs}
    out = {}
    for s in specs:
        name, sep, rest = s.partition("=")
        if not sep and len(outputs) == 1:
            name, rest = outputs[0], s
        kind, _, w = rest.partition(":")
        if name not in outputs:
            raise DataError(f"--loss {s}: the model has no output `{name}`; its outputs are "
                            + ", ".join(f"`{o}`" for o in outputs))
        if kind not in LOSSES:
            raise DataError(f"--loss {s}: unknown loss `{kind}`; use one of {', '.join(LOSSES)}")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            raise DataError(f"--loss {s}: the weight `{w}` is not a number") from None
        if not weight >= 0 or weight == float("inf"):
            raise DataError(f"--loss {s}: the weight must be a finite number >= 0")
        if name in out:
            raise DataError(f"--loss: output `{name}` is given twice")
        out[name] = (kind, weight)
    return out


def load(path: str, inputs: dict, outputs: dict, losses: dict) -> tuple[dict, dict]:
    """(input arrays as float32, target arrays) from `path`, checked.
    `inputs` and `outputs`: name -> declared shape (None: unknown)."""
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"cannot read data `{path}`: {getattr(e, 'strerror', None) or e}") from None
    if not hasattr(z, "files"):
        raise DataError(f"data `{path}` is a single array; give an .npz file with arrays named "
                        "by the model's inputs and outputs")
    have = list(z.files)
    xs, ys = {}, {}
    for name, shape in inputs.items():
        xs[name] = _array(z, path, name, shape, "input", "float", have)
    for name, (kind, _) in losses.items():
        ys[name] = _array(z, path, name, outputs[name], "target of output", kind, have)
    counts = {k: len(v) for k, v in {**xs, **ys}.items()}
    if len(set(counts.values())) > 1:
        raise DataError(f"data `{path}`: the arrays hold different numbers of samples: "
                        + ", ".join(f"{k} {n}" for k, n in counts.items()))
    if not counts or next(iter(counts.values())) == 0:
        raise DataError(f"data `{path}` holds no samples")
    return xs, ys


def _array(z, path, name, shape, what, kind, have):
    if name not in have:
        raise DataError(f"data `{path}` has no array `{name}` (the {what} `{name}`"
                        + (f", {fmt_shape(shape)}" if shape else "") + "); it has: "
                        + (", ".join(have) or "no arrays"))
    a = z[name]
    ce_classes = kind == "ce" and shape is not None and a.ndim == len(shape) - 1
    if ce_classes:
        if a.dtype.kind not in "iu":
            raise DataError(f"data `{path}`: `{name}` holds class indices for `ce`, so it must be an integer "
                            f"array; it is {a.dtype}")
        want = (shape[0],) + tuple(shape[2:])
        if a.size and (a.min() < 0 or (isinstance(shape[1], int) and a.max() >= shape[1])):
            raise DataError(f"data `{path}`: `{name}` has class indices outside 0..{shape[1] - 1}")
    else:
        if a.dtype.kind != "f":
            raise DataError(f"data `{path}`: `{name}` must be a floating-point array (the {what} `{name}`); "
                            f"it is {a.dtype}")
        want = shape
        if not np.isfinite(a).all():
            bad = int(np.size(a) - np.isfinite(a).sum())
            raise DataError(f"data `{path}`: `{name}` holds {bad} NaN or infinite value{'s' * (bad != 1)}")
    if want is not None and (a.ndim != len(want) or any(
            isinstance(d, int) and i > 0 and d != a.shape[i] for i, d in enumerate(want))):
        raise DataError(f"data `{path}`: `{name}` has shape {list(a.shape)}, but the {what} `{name}` is "
                        f"{fmt_shape(want)} (the first dimension counts the samples)")
    return a.astype(np.int64 if ce_classes else np.float32)
