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
    "E0005": (ERROR, "file is not valid UTF-8"),
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
    "E0123": (ERROR, "number out of range"),
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
            "labels": [dict(_span_json(l.span), message=l.text) for l in self.labels if l.span is not None],
            "notes": list(self.notes),
        }


def _span_json(s: Span) -> dict:
    return {"file": s.file, "line": s.line, "column": s.column, "end_line": s.end_line,
            "end_column": s.end_column}


class CompileError(Exception):
    """Raised to abandon the current statement; carries one diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def error(code: str, message: str, span: Span | None, help: str | None = None,
          labels: list[Label] | None = None, notes: list[str] | None = None) -> CompileError:
    return CompileError(Diagnostic(code, message, span, labels or [], help, notes or []))


class Sources:
    """The text of every file read during one compilation, for rendering."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self._lines: dict[str, list[str]] = {}

    def add(self, file: str, text: str) -> None:
        self.texts[file] = text
        self._lines.pop(file, None)

    def line(self, file: str, n: int) -> str | None:
        text = self.texts.get(file)
        if text is None:
            return None
        lines = self._lines.get(file)
        if lines is None:
            # Lines as the lexer counts them: only \n ends a line.
            lines = self._lines[file] = [l[:-1] if l.endswith("\r") else l for l in text.split("\n")]
        return lines[n - 1] if 0 < n <= len(lines) else ""


def did_you_mean(name: str, candidates) -> str | None:
    """The closest candidate by edit distance (ignoring case; a swap of two
    neighbouring letters is one edit), if it is close enough to be a plausible
    typo: about a third of the name's letters at most, and never all of them
    (`y` does not suggest `M`)."""
    best, best_d = None, None
    for c in candidates:
        if c == name:
            continue
        d = _distance(name.lower(), c.lower())
        if best_d is None or d < best_d or (d == best_d and c < best):
            best, best_d = c, d
    if best is not None and best_d <= max(1, (len(name) + 1) // 3) and best_d < min(len(name), len(best)):
        return best
    return None


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus transpositions)."""
    if abs(len(a) - len(b)) > 8:
        return abs(len(a) - len(b))
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                d = min(d, prev2[j - 2] + 1)
            cur.append(d)
        prev2, prev = prev, cur
    return prev[-1]


# ---------------------------------------------------------------- rendering

def use_colour(stream, mode: str = "auto") -> bool:
    """Colour only on a terminal, never when NO_COLOR is set (no-color.org),
    unless forced with --color always."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


_use_colour = use_colour   # the old name


def _clean(text: str) -> str:
    """Control characters from a source file must not reach the terminal."""
    return "".join(c if c == "\n" or (c >= " " and c != "\x7f") or c == "\t" else "\ufffd" for c in text)


_MAX_SHOWN = 120   # a longer source line is shown as a window around its marks


def _window(text: str, marks: list) -> tuple[str, int]:
    """(the part of a long line to show, how many columns were cut on the left)."""
    if len(text) <= _MAX_SHOWN:
        return text, 0
    lo = max(0, min(m[0] for m in marks) - 1 - 30)
    hi = min(len(text), max(m[1] for m in marks) - 1 + 30)
    if hi - lo > _MAX_SHOWN:
        hi = lo + _MAX_SHOWN
    shown = ("..." if lo else "") + text[lo:hi] + ("..." if hi < len(text) else "")
    return shown, lo - (3 if lo else 0)


class _Style:
    def __init__(self, colour: bool, is_error: bool):
        on = colour
        self.red = "\x1b[1;31m" if on else ""
        self.yellow = "\x1b[1;33m" if on else ""
        self.blue = "\x1b[1;34m" if on else ""
        self.bold = "\x1b[1m" if on else ""
        self.reset = "\x1b[0m" if on else ""
        self.sev = self.red if is_error else self.yellow


def render(d: Diagnostic, sources: "Sources | None", colour: bool = False) -> str:
    """rustc-style text: the headline, each file's lines with their marks
    (`^` under the primary span, `-` under labelled secondary ones, a label's
    text beside or below its marks), then notes and help."""
    st = _Style(colour, d.is_error)
    out = [f"{st.sev}{d.severity}[{d.code}]{st.reset}{st.bold}: {_clean(d.message)}{st.reset}"]
    anns = []
    if d.span is not None:
        anns.append((d.span, None, True))
    anns += [(l.span, l.text, False) for l in d.labels if l.span is not None]
    files = []
    for sp, _, _ in anns:
        if sp.file not in files:
            files.append(sp.file)
    all_lines = [sp.line for sp, _, _ in anns]
    width = len(str(max(all_lines))) if all_lines else 1
    pad = " " * width
    for fi, f in enumerate(files):
        mine = [a for a in anns if a[0].file == f]
        first = mine[0][0]
        arrow = "-->" if fi == 0 and d.span is not None else ":::"
        out.append(f"{pad}{st.blue}{arrow}{st.reset} {f}:{first.line}:{first.column}")
        text_of = (lambda n, f=f: sources.line(f, n)) if sources is not None else (lambda n: None)
        lines = sorted({sp.line for sp, _, _ in mine})
        if any(text_of(n) is not None for n in lines):
            out.append(f"{pad} {st.blue}|{st.reset}")
        prev = None
        for n in lines:
            text = text_of(n)
            if text is None:
                continue
            if prev is not None and n - prev > 1:
                if n - prev == 2 and text_of(n - 1) is not None:
                    out.append(f"{st.blue}{n - 1:>{width}} |{st.reset} {_clean(text_of(n - 1)).replace(chr(9), ' ')}")
                else:
                    out.append(f"{st.blue}...{st.reset}")
            prev = n
            out.extend(_render_line(n, text, [a for a in mine if a[0].line == n], width, st))
    for note in d.notes:
        note_lines = _clean(note).splitlines() or [""]
        out.append(f"{pad} {st.blue}={st.reset} {st.bold}note{st.reset}: {note_lines[0]}")
        out.extend(f"{pad}         {h}" for h in note_lines[1:])
    if d.help:
        help_lines = _clean(d.help).splitlines() or [""]
        out.append(f"{pad} {st.blue}={st.reset} {st.bold}help{st.reset}: {help_lines[0]}")
        out.extend(f"{pad}         {h}" for h in help_lines[1:])
    return "\n".join(out)


def _render_line(n: int, raw: str, anns: list, width: int, st: _Style) -> list[str]:
    pad = " " * width
    text = _clean(raw).replace("\t", " ")
    marks = []
    for sp, label, primary in anns:
        start = max(1, sp.column)
        end = sp.end_column if sp.end_line == sp.line else len(text) + 1
        end = max(start + 1, min(end, len(text) + 1)) if text else start + 1
        marks.append((start, end, label, primary))
    shown, cut = _window(text, [(m[0], m[1]) for m in marks])
    limit = len(shown) + 1
    clipped = []
    for s, e, lab, p in marks:
        s2 = min(max(1, s - cut), limit)
        e2 = min(max(s2 + 1, e - cut), limit + 1)
        clipped.append((s2, e2, lab, p))
    marks = clipped
    rows = [f"{st.blue}{n:>{width}} |{st.reset} {shown}"]
    # The marker row: longer spans first, so that a span nested in another stays visible.
    cells: dict[int, tuple[str, bool]] = {}
    for s, e, _, p in sorted(marks, key=lambda m: -(m[1] - m[0])):
        for c in range(s, e):
            cells[c] = ("^" if p else "-", p)
    last = max(cells)
    row, run, run_p = "", "", None
    for c in range(1, last + 2):
        cell = cells.get(c)
        p = None if cell is None else cell[1]
        if p != run_p and run:
            row += run if run_p is None else f"{st.sev if run_p else st.blue}{run}{st.reset}"
            run = ""
        run_p = p
        if c <= last:
            run += " " if cell is None else cell[0]
    ordered = sorted(marks, key=lambda m: (m[0], m[1]))
    labelled = [m for m in ordered if m[2]]
    inline = labelled[-1] if labelled and labelled[-1] is ordered[-1] else None
    if inline is None and labelled and labelled[-1][0] >= max(m[1] for m in ordered if m is not labelled[-1]):
        inline = labelled[-1]
    if inline is not None:
        row += " " + (st.sev if inline[3] else st.blue) + _clean(inline[2]) + st.reset
    rows.append(f"{pad} {st.blue}|{st.reset} {row}")
    hanging = [m for m in labelled if m is not inline]
    if hanging:
        def bars(ms):
            line = ""
            for m in ms:
                line += " " * (m[0] - 1 - len(line)) + "|"
            return line
        rows.append(f"{pad} {st.blue}|{st.reset} {st.blue}{bars(hanging)}{st.reset}")
        while hanging:
            m = hanging.pop()
            line = bars(hanging)
            line += " " * (m[0] - 1 - len(line)) + _clean(m[2])
            rows.append(f"{pad} {st.blue}|{st.reset} {line}")
    return rows


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
        from .sarif import to_sarif
        stream.write(json.dumps(to_sarif(diags, files), indent=2) + "\n")
        return
    on = use_colour(stream, colour)
    for d in diags:
        stream.write(render(d, sources, on) + "\n\n")
    if summary:
        line = summary_line(diags)
        if line:
            stream.write(line + "\n")


def summary_line(diags: list[Diagnostic]) -> str:
    n_err = sum(d.is_error for d in diags)
    n_warn = len(diags) - n_err
    parts = []
    if n_err:
        parts.append(f"{n_err} error{'s' * (n_err != 1)}")
    if n_warn:
        parts.append(f"{n_warn} warning{'s' * (n_warn != 1)}")
    return ", ".join(parts)
