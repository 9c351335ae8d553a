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


def layer_program(expr: str, inputs: list, n_outputs: int = 1) -> str:
    decls = "\n".join(f"    input x{i}: [{', '.join(map(str, s))}]" for i, s in enumerate(inputs))
    src = "x0" if len(inputs) == 1 else "(" + ", ".join(f"x{i}" for i in range(len(inputs))) + ")"
    outs = ", ".join(f"y{i}" for i in range(n_outputs))
    return f"model T {{\n{decls}\n    output {outs} = {src} -> {expr} as layer\n}}\n"
