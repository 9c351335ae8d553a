"""The Python API: everything the CLI does, as functions.

    import nnd
    result = nnd.check("model.nnd")             # diagnostics only; no onnx import
    model = nnd.compile("model.nnd", seed=0)    # an onnx.ModelProto
"""

from __future__ import annotations

import functools
import gc
import os
from dataclasses import dataclass, field

from .diagnostics import Diagnostic, Sources
from .elaborate import Elaborator
from .ir import IR
from .loader import Loader


def _gc_paused(fn):
    """Run with the cyclic garbage collector off: compiling allocates many
    long-lived objects (syntax tree, IR), and the collector's passes over them
    cost a fifth of the compile time of a large model while finding nothing
    to free. Restored afterwards, so callers keep their setting."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()
    return wrapper


@dataclass
class CheckResult:
    ir: IR | None
    diagnostics: list[Diagnostic]
    sources: Sources
    path: str = ""

    @property
    def ok(self) -> bool:
        return self.ir is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


class WeightError(Exception):
    """Weights given with --weights do not fit the model."""


class CompileFailed(Exception):
    """Compilation stopped on errors; `.result` holds the diagnostics."""

    def __init__(self, result: CheckResult):
        from .diagnostics import render
        text = "\n\n".join(render(d, result.sources) for d in result.errors)
        super().__init__(text)
        self.result = result


@_gc_paused
def check(path: str | None = None, *, text: str | None = None, model: str | None = None,
          params: dict | None = None, allow_outside: bool = False) -> CheckResult:
    """Parse, elaborate and shape-check; never raises on bad input."""
    sources, diags = Sources(), []
    loader = Loader(sources, diags, allow_outside=allow_outside)
    if text is not None:
        root = loader.load_text(text, path or "<input>")
    else:
        root = loader.load_root(path)
    ir = None
    if root is not None and root.program is not None:
        el = Elaborator(diags)
        el.prepare(list(loader.modules.values()))
        ir = el.elaborate(root, model, params)
        if ir is not None and not any(d.is_error for d in diags):
            from .lint import lint
            diags.extend(lint(ir))
    return CheckResult(ir, diags, sources, path or "<input>")


def build(path: str | None = None, *, text: str | None = None, model: str | None = None,
          params: dict | None = None, seed: int = 0, weights: str | None = None, optimize: bool = True,
          allow_outside: bool = False, report: list | None = None,
          checked: CheckResult | None = None) -> tuple:
    """Check (unless `checked` is that check's result already), then
    materialize weights and run the pass pipeline.
    Returns (ir, CheckResult); raises CompileFailed on errors."""
    res = checked if checked is not None else check(path, text=text, model=model, params=params,
                                                    allow_outside=allow_outside)
    if not res.ok:
        raise CompileFailed(res)
    from .weights import materialize
    ir = res.ir
    if weights:
        from .binding import bind
        bind(ir, weights)
    materialize(ir, seed)
    if optimize:
        from .passes import run_pipeline
        run_pipeline(ir, report)
    return ir, res


@_gc_paused
def compile(path: str | None = None, *, text: str | None = None, model: str | None = None,
            params: dict | None = None, seed: int = 0, weights: str | None = None, optimize: bool = True,
            allow_outside: bool = False, report: list | None = None, lazy: bool = False,
            checked: CheckResult | None = None):
    """Compile a .nnd file (or `text`) to an onnx.ModelProto.

    With lazy=True, returns a `LoweredModel` instead: the same model with its
    weights still the compiler's arrays, which `save` writes straight to the
    file (no in-memory copy of the weights); `.to_proto()` gives the
    ModelProto. `checked`: the result of `check` on the same arguments, to
    skip parsing and elaborating again (it is consumed: its IR becomes the
    compiled model's)."""
    ir, res = build(path, text=text, model=model, params=params, seed=seed, weights=weights,
                    optimize=optimize, allow_outside=allow_outside, report=report, checked=checked)
    from .lower import lower_lazy
    lowered = lower_lazy(ir, source=os.path.basename(res.path))
    return lowered if lazy else lowered.to_proto()


@_gc_paused
def save(model, out: str) -> None:
    """Write an ONNX model (a ModelProto, or what `compile(lazy=True)` returns)
    atomically: a temporary file beside `out`, then a rename. Tensors are
    written one at a time, never the whole serialized model in memory."""
    from .writer import save as _save
    _save(model, out)
