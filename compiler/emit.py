"""Writing diagnostics out in the format asked for: text (diagnostics.render,
with a summary line), JSON (one object per line) or SARIF (sarif.py).

Kept apart from diagnostics.py so that sarif.py, which reads the catalogue,
and diagnostics.py do not import each other.
"""

from __future__ import annotations

import json
import sys

from .diagnostics import Diagnostic, Sources, render, summary_line, use_colour


def emit(diags: list[Diagnostic], sources: Sources | None, fmt: str = "text", stream=None,
         colour: str = "auto", summary: bool = True, files: list[str | None] | None = None) -> None:
    """Write diagnostics in the chosen format ('text', 'json' or 'sarif').
    `files`, beside `diags`: the file checked when each was found (SARIF
    locates a diagnostic without a span there)."""
    stream = stream or sys.stderr
    if fmt == "json":
        for d in diags:
            stream.write(json.dumps(d.to_json()) + "\n")
        return
    if fmt == "sarif":
        from .sarif import to_sarif   # only when asked: a check need not load it
        stream.write(json.dumps(to_sarif(diags, files), indent=2) + "\n")
        return
    on = use_colour(stream, colour)
    for d in diags:
        stream.write(render(d, sources, on) + "\n\n")
    if summary:
        line = summary_line(diags)
        if line:
            stream.write(line + "\n")
