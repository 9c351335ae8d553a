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
from contextlib import contextmanager
from dataclasses import dataclass, field

from .diagnostics import Diagnostic, Sources, Span, WeightError  # noqa: F401  (nnd.api.WeightError)
from .elaborate import Abort, Elaborator
from .ir import IR
from .loader import Loader


@dataclass
class CheckResult:
    ir: IR | None
    diagnostics: list[Diagnostic]
    sources: Sources
    path: str = ""
    files: list[str] = field(default_factory=list)   # the .nnd files read (absolute), root first

    @property
    def ok(self) -> bool:
        return self.ir is not None and not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


# What compile may allocate for weights unless told otherwise (`max_weights_size`):
# a model past it is more often a typo in a width than a wish, and would die
# with MemoryError (or be killed) after minutes of work.
MAX_WEIGHTS_SIZE = 16 * 2**30


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
    files = [k for k in loader.modules if not k.startswith("std:")]
    return CheckResult(ir, diags, sources, path or "<input>", files)


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
          keep_training_outputs: bool = False, partial: bool = False, freeze=(),
          checked: CheckResult | None = None, allow_nonfinite: bool = False,
          max_weights_size=MAX_WEIGHTS_SIZE) -> tuple:
    """Check, bind `weights` (a .npz, .safetensors or .onnx file; strict unless
    `partial`), materialize the rest and run the pass pipeline (unless
    `optimize` is false; `keep_training_outputs` keeps outputs marked
    training-only, which the pipeline otherwise drops). Returns
    (ir, CheckResult), the binding's report in `ir.meta["binding"]`; raises
    CompileFailed on errors, WeightError when the weights do not fit (or
    a `freeze` pattern names no layer with parameters). `checked`: the result
    of `check` on the same arguments, to skip parsing and elaborating again
    (it is consumed: its IR becomes the compiled model's).

    Bound weights holding NaN or infinities, or values too large for float32,
    are a WeightError unless `allow_nonfinite`. A model whose weights would
    take more than `max_weights_size` (bytes, or a string such as "100GB";
    None: no limit) is a WeightError before anything is allocated."""
    res = checked if checked is not None else check(path, text=text, model=model, params=params,
                                                    allow_outside=allow_outside)
    if not res.ok:
        raise CompileFailed(res)
    from .weights import check_size, materialize
    ir = res.ir
    check_size(ir, max_weights_size)
    if freeze:
        from .binding import check_freeze
        check_freeze(ir, freeze)
    if weights:
        from .binding import bind
        ir.meta["binding"] = bind(ir, weights, partial=partial, allow_nonfinite=allow_nonfinite)
    materialize(ir, seed)
    ir.meta["optimized"] = bool(optimize)
    if optimize:
        from .passes import run_pipeline
        run_pipeline(ir, report, keep_training_outputs=keep_training_outputs)
    return ir, res


def compile(path: str | None = None, *, text: str | None = None, model: str | None = None,
            params: dict | None = None, seed: int = 0, weights: str | None = None, optimize: bool = True,
            allow_outside: bool = False, report: list | None = None, keep_training_outputs: bool = False,
            partial: bool = False, freeze=(), weight_report: list | None = None, lazy: bool = False,
            checked: CheckResult | None = None, allow_nonfinite: bool = False,
            max_weights_size=MAX_WEIGHTS_SIZE):
    """Compile a .nnd file (or `text`) to an onnx.ModelProto. `freeze`: glob
    patterns over layer names whose parameters are recorded as frozen in the
    metadata (`nnd.frozen`: the written initializers, after the passes; use
    optimize=False to keep BatchNorm for training); `weight_report` receives
    the BindReport.

    With lazy=True, returns a `LoweredModel` instead: the same model with its
    weights still the compiler's arrays, which `save` writes straight to the
    file (no in-memory copy of the weights); `.to_proto()` gives the
    ModelProto. `checked`, `allow_nonfinite`, `max_weights_size`: see `build`."""
    with _no_gc():
        ir, res = build(path, text=text, model=model, params=params, seed=seed, weights=weights,
                        optimize=optimize, allow_outside=allow_outside, report=report,
                        keep_training_outputs=keep_training_outputs, partial=partial, freeze=freeze,
                        checked=checked, allow_nonfinite=allow_nonfinite,
                        max_weights_size=max_weights_size)
        from .lower import lower_lazy
        root = os.getcwd() if text is not None else os.path.dirname(os.path.abspath(res.path))
        lowered = lower_lazy(ir, source=os.path.basename(res.path), root=root)
        if freeze:
            from .binding import mark_frozen
            mark_frozen(lowered, ir, freeze)
        if ir.meta.get("training"):
            from .training_attrs import mark_training
            mark_training(lowered, ir)
        if weight_report is not None and "binding" in ir.meta:
            weight_report.append(ir.meta["binding"])
        return lowered if lazy else lowered.to_proto()


def summary(path: str | None = None, *, text: str | None = None, depth: int | None = None,
            model: str | None = None, params: dict | None = None, allow_outside: bool = False) -> dict:
    """What `nndc summary --format json` prints: {"model", "rows": [one dict
    per layer, or per block instance `depth` levels down], "totals"} (see
    model_summary.py); raises CompileFailed on errors."""
    res = check(path, text=text, model=model, params=params, allow_outside=allow_outside)
    if not res.ok:
        raise CompileFailed(res)
    from .model_summary import summarize
    return summarize(res.ir, depth)


# protobuf cannot serialize a message of 2 GiB; keep 32 MiB for the graph itself.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**25


def save(model, out: str, external_threshold: int | None = None) -> list[str]:
    """Write an ONNX model (a ModelProto, or what `compile(lazy=True)`
    returns) atomically: temporary files beside `out`, then renames; tensors
    are written one at a time, never the whole serialized model in memory.
    When its initializers hold more than `external_threshold` bytes (by
    default what one protobuf message can hold), they go to
    `<out>.<hash>.data` beside it (ONNX external data, offsets aligned to
    4096), which the model names by its base name; see docs/guarantees.md.
    Returns the paths written; `model` is left as it was."""
    from .writer import save as _save
    if external_threshold is None:
        external_threshold = EXTERNAL_DATA_THRESHOLD
    with _no_gc():
        return _save(model, out, external_threshold)
