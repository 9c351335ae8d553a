"""Shared test helpers: compile nnd text, run it on onnxruntime, compare."""

from __future__ import annotations

import numpy as np


def compile_text(text: str, **kw):
    import nnd
    return nnd.compile(text=text, **kw)


def run_onnx(model, feeds: dict) -> list:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def rel_err(got, want) -> float:
    """Max absolute difference relative to the reference's largest finite
    magnitude; infinities and NaNs must match the reference's exactly."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != reference {want.shape}"
    finite = np.isfinite(want)
    if not finite.all():
        assert np.array_equal(got[~finite], want[~finite], equal_nan=True), "non-finite values differ"
        got, want = got[finite], want[finite]
    scale = max(float(np.abs(want).max(initial=0.0)), 1e-6)
    return float(np.abs(got - want).max(initial=0.0)) / scale


def random_inputs(shapes: list, rng, dtypes: list | None = None, high: int = 2) -> list:
    """One array per shape: standard normal float32, integers in [0, high)
    for an int64 or int32 input, booleans (a quarter true) for bool."""
    out = []
    for s, dt in zip(shapes, dtypes or ["float32"] * len(shapes)):
        if dt == "float32":
            out.append(rng.standard_normal(s).astype(np.float32))
        elif dt == "bool":
            out.append(rng.random(s) < 0.25)
        else:
            out.append(rng.integers(0, high, s).astype(dt))
    return out


def layer_program(expr: str, inputs: list, n_outputs: int = 1, dtypes: list | None = None) -> str:
    dts = [("" if d == "float32" else f" {d}") for d in dtypes or ["float32"] * len(inputs)]
    decls = "\n".join(f"    input x{i}: [{', '.join(map(str, s))}]{dts[i]}" for i, s in enumerate(inputs))
    src = "x0" if len(inputs) == 1 else "(" + ", ".join(f"x{i}" for i in range(len(inputs))) + ")"
    outs = ", ".join(f"y{i}" for i in range(n_outputs))
    return f"model T {{\n{decls}\n    output {outs} = {src} -> {expr} as layer\n}}\n"
