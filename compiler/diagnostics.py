"""The diagnostics catalogue, and how a diagnostic is rendered.

Every diagnostic the compiler can emit has a stable code listed in CATALOGUE:
code -> (severity, short title). The title names the class of problem (it is
what `--explain`-style docs and SARIF rules show); each emitted diagnostic
carries its own specific message. Codes are never reused or renumbered.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

ERROR = "error"
WARNING = "warning"

CATALOGUE: dict[str, tuple[str, str]] = {
    # E00xx: reading and parsing
    "E0001": (ERROR, "syntax error"),
    "E0002": (ERROR, "unexpected character"),
    "E0003": (ERROR, "unexpected end of file"),
    "E0004": (ERROR, "file cannot be read"),
    # E01xx: names, values and elaboration
    "E0101": (ERROR, "unknown name"),
    "E0102": (ERROR, "unknown layer or block"),
    "E0103": (ERROR, "unknown parameter"),
    "E0104": (ERROR, "missing argument"),
    "E0105": (ERROR, "too many arguments"),
    "E0106": (ERROR, "argument has the wrong type"),
    "E0107": (ERROR, "argument out of range"),
    "E0108": (ERROR, "duplicate definition"),
    "E0109": (ERROR, "duplicate layer name"),
    "E0110": (ERROR, "import not found"),
    "E0111": (ERROR, "import cycle"),
    "E0112": (ERROR, "import outside the project"),
    "E0113": (ERROR, "no model to compile"),
    "E0114": (ERROR, "recursive block"),
    "E0115": (ERROR, "wrong number of tensors"),
    "E0116": (ERROR, "wrong number of names to unpack"),
    "E0117": (ERROR, "type error"),
    "E0118": (ERROR, "division by zero"),
    "E0119": (ERROR, "limit exceeded"),
    "E0120": (ERROR, "index out of range"),
    "E0121": (ERROR, "invalid input or output declaration"),
    "E0122": (ERROR, "not allowed here"),
    # E03xx: shapes
    "E0301": (ERROR, "shapes do not match"),
    "E0302": (ERROR, "concatenated shapes do not match"),
    "E0303": (ERROR, "shape assertion failed"),
    "E0304": (ERROR, "spatial size is not positive"),
    "E0305": (ERROR, "a concrete size is needed"),
    "E0306": (ERROR, "channels not divisible by groups"),
    "E0310": (ERROR, "layer input has the wrong rank"),
    "E0311": (ERROR, "layer cannot take this input"),
    # W0xxx: warnings
    "W0001": (WARNING, "pooling drops rows or columns"),
    "W0002": (WARNING, "bias before batch normalization"),
    "W0003": (WARNING, "unused tensor"),
    "W0004": (WARNING, "even kernel with `same` padding"),
    "W0005": (WARNING, "softmax applied twice"),
    "W0006": (WARNING, "very large layer"),
}


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: "Span") -> "Span":
        """The span from the start of self to the end of other."""
        return Span(self.file, self.line, self.column, other.end_line, other.end_column)


@dataclass
class Label:
    span: Span
    text: str


@dataclass
class Diagnostic:
    code: str
    message: str
    span: Span | None
    labels: list[Label] = field(default_factory=list)
    help: str | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise KeyError(f"diagnostic code {self.code} is not in the catalogue")

    @property
    def severity(self) -> str:
        return CATALOGUE[self.code][0]

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_json(self) -> dict:
        s = self.span
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": s.file if s else None,
            "line": s.line if s else None,
            "column": s.column if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_column if s else None,
            "help": self.help,
        }


class CompileError(Exception):
    """Raised to abandon the current statement; carries one diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(code: str, message: str, span: Span | None, help: str | None = None,
          labels: list[Label] | None = None) -> CompileError:
    return CompileError(Diagnostic(code, message, span, labels or [], help))


class Sources:
    """The text of every file read during one compilation, for rendering."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, file: str, text: str) -> None:
        self.texts[file] = text

    def line(self, file: str, n: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            return None
        lines = text.splitlines()
        return lines[n - 1] if 0 < n <= len(lines) else ""


def did_you_mean(name: str, candidates) -> str | None:
    """The closest candidate by edit distance, if it is close enough."""
    best, best_d = None, None
    for c in candidates:
        d = _distance(name.lower(), c.lower())
        if best_d is None or d < best_d or (d == best_d and c < best):
            best, best_d = c, d
    if best is not None and best_d <= max(1, len(name) // 3):
        return best
    return None


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# ---------------------------------------------------------------- rendering

def _use_colour(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ


def render(d: Diagnostic, sources: Sources, colour: bool = False) -> str:
    """rustc-style text: headline, location, source line with carets, help."""
    red, yellow, blue, bold, reset = (
        ("\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[1m", "\x1b[0m") if colour else ("",) * 5
    )
    sev_col = red if d.is_error else yellow
    out = [f"{bold}{sev_col}{d.severity}[{d.code}]{reset}{bold}: {d.message}{reset}"]
    s = d.span
    if s is None:
        if d.help:
            out.append(f"  = help: {d.help}")
        return "\n".join(out)
    spans = [(s, None, True)] + [(l.span, l.text, False) for l in d.labels]
    lines = sorted({sp.line for sp, _, _ in spans if sp.file == s.file})
    width = len(str(max(lines)))
    pad = " " * width
    out.append(f"{pad}{blue}--> {reset}{s.file}:{s.line}:{s.column}")
    out.append(f"{pad} {blue}|{reset}")
    for n in lines:
        text = sources.line(s.file, n)
        if text is None:
            continue
        text = text.replace("\t", " ")
        out.append(f"{blue}{n:>{width}} |{reset} {text}")
        for sp, label, primary in spans:
            if sp.file != s.file or sp.line != n:
                continue
            end = sp.end_column if sp.end_line == sp.line else len(text) + 1
            length = max(1, end - sp.column)
            mark = "^" if primary else "-"
            col = sev_col if primary else blue
            msg = f" {label}" if label else ""
            out.append(f"{pad} {blue}|{reset} {' ' * (sp.column - 1)}{col}{mark * length}{msg}{reset}")
    for note in d.notes:
        out.append(f"{pad} = note: {note}")
    if d.help:
        help_lines = d.help.splitlines()
        out.append(f"{pad} {blue}={reset} {bold}help{reset}: {help_lines[0]}")
        out.extend(f"{pad}         {h}" for h in help_lines[1:])
    return "\n".join(out)


def emit(diags: list[Diagnostic], sources: Sources, fmt: str = "text", stream=None) -> None:
    """Write diagnostics in the chosen format ('text', 'json' or 'sarif')."""
    stream = stream or sys.stderr
    if fmt == "json":
        for d in diags:
            stream.write(json.dumps(d.to_json()) + "\n")
        return
    if fmt == "sarif":
        from .sarif import to_sarif
        stream.write(json.dumps(to_sarif(diags), indent=2) + "\n")
        return
    colour = _use_colour(stream)
    for d in diags:
        stream.write(render(d, sources, colour) + "\n\n")
    n_err = sum(d.is_error for d in diags)
    n_warn = len(diags) - n_err
    if n_err or n_warn:
        parts = []
        if n_err:
            parts.append(f"{n_err} error{'s' * (n_err != 1)}")
        if n_warn:
            parts.append(f"{n_warn} warning{'s' * (n_warn != 1)}")
        stream.write(", ".join(parts) + "\n")
