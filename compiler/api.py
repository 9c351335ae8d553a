"""The Python API: everything the CLI does, as functions.

    import nnd
    result = nnd.check("model.nnd")             # diagnostics only; no onnx import
    model = nnd.compile("model.nnd", seed=0)    # an onnx.ModelProto
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field

from .diagnostics import Diagnostic, Sources, Span
from .elaborate import Abort, Elaborator
from .ir import IR
from .loader import Loader


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


@contextlib.contextmanager
def _no_gc():
    """Compilation allocates many small objects and few reference cycles; the
    cyclic collector's passes over them cost up to a third of compile time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def check(path: str | None = None, *, text: str | None = None, model: str | None = None,
          params: dict | None = None, allow_outside: bool = False) -> CheckResult:
    """Parse, elaborate and shape-check; never raises on bad input."""
    with _no_gc():
        return _check(path, text, model, params, allow_outside)


def _check(path, text, model, params, allow_outside) -> CheckResult:
    sources, diags = Sources(), []
    loader = Loader(sources, diags, allow_outside=allow_outside)
    ir = None
    with _stack_room():
        if text is not None:
            root = loader.load_text(text, path or "<input>")
        else:
            root = loader.load_root(path)
        if root is not None and root.program is not None:
            el = Elaborator(diags, sources)
            try:
                el.prepare(list(loader.modules.values()))
                ir = el.elaborate(root, model, params)
            except Abort as e:
                el.report(e.diagnostic)
            except RecursionError:
                # A safety net: the nesting limits should stop any program first.
                diags.append(Diagnostic("E0119", "the program nests too deeply to elaborate",
                                        Span(root.display, 1, 1, 1, 1),
                                        help="blocks or expressions nest beyond what the compiler supports"))
            if ir is not None and not any(d.is_error for d in diags):
                from .lint import lint
                diags.extend(lint(ir, sources))
    return CheckResult(ir, diags, sources, path or "<input>")


# Python frames one check may need: MAX_DEPTH nested blocks of about a dozen
# frames each, plus expressions up to the parser's MAX_NESTING.
_RECURSION = 4000


@contextmanager
def _stack_room():
    old = sys.getrecursionlimit()
    if old < _RECURSION:
        sys.setrecursionlimit(_RECURSION)
    try:
        yield
    finally:
        if old < _RECURSION:
            sys.setrecursionlimit(old)


def build(path: str | None = None, *, text: str | None = None, model: str | None = None,
          params: dict | None = None, seed: int = 0, weights: str | None = None, optimize: bool = True,
          allow_outside: bool = False, report: list | None = None,
          keep_training_outputs: bool = False) -> tuple:
    """Check, then materialize weights and run the pass pipeline (unless
    `optimize` is false; `keep_training_outputs` keeps outputs marked
    training-only, which the pipeline otherwise drops).
    Returns (ir, CheckResult); raises CompileFailed on errors."""
    res = check(path, text=text, model=model, params=params, allow_outside=allow_outside)
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
        run_pipeline(ir, report, keep_training_outputs=keep_training_outputs)
    return ir, res


def compile(path: str | None = None, *, text: str | None = None, model: str | None = None,
            params: dict | None = None, seed: int = 0, weights: str | None = None, optimize: bool = True,
            allow_outside: bool = False, report: list | None = None, keep_training_outputs: bool = False):
    """Compile a .nnd file (or `text`) to an onnx.ModelProto."""
    with _no_gc():
        return _compile(path, text, model, params, seed, weights, optimize, allow_outside, report,
                        keep_training_outputs)


def _compile(path, text, model, params, seed, weights, optimize, allow_outside, report,
             keep_training_outputs=False):
    ir, res = build(path, text=text, model=model, params=params, seed=seed, weights=weights,
                    optimize=optimize, allow_outside=allow_outside, report=report,
                    keep_training_outputs=keep_training_outputs)
    from .lower import lower
    return lower(ir, source=os.path.basename(res.path))


def save(model, out: str) -> None:
    """Write an ONNX model atomically: a temporary file beside `out`, then a rename."""
    data = model.SerializeToString()
    d = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=".nndc-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
