"""The UI-test harness: expected diagnostics written as comments in a .nnd
file, compared with what `nndc check` reports (see tests/ui/README.md)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

UI_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_ANN = re.compile(r"^(\s*)#~?(.*)$")
_LOOKS = re.compile(r"^\s*#.*\b(ERROR|WARNING)\s+[EW]\d{4}")
_BODY = re.compile(r"^\s*(?:(?P<caret>\^)|@(?P<at>\S+))\s+(?P<sev>ERROR|WARNING)\s+(?P<code>[EW]\d{4})(?:\s+(?P<text>.*))?$")


@dataclass(frozen=True)
class Expected:
    file: str | None     # None: the test file itself
    line: int | None     # None: the diagnostic has no location
    column: int | None
    severity: str
    code: str
    text: str

    def key(self):
        return (self.file, self.line, self.column, self.severity, self.code)


class AnnotationError(Exception):
    pass


def parse_annotations(text: str) -> tuple[list[Expected], dict]:
    """Expected diagnostics and options (`#! model: NAME`, `#! param: K=V`)."""
    expected, options = [], {"params": {}}
    last_source = None
    for i, line in enumerate(text.split("\n"), 1):
        m = _ANN.match(line)
        if m is not None and _BODY.match(m.group(2)) is None:
            if _LOOKS.match(line):
                raise AnnotationError(f"line {i}: cannot read the annotation {line!r}")
            m = None
        if m is None:
            opt = re.match(r"^#!\s*(model|param):\s*(.+?)\s*$", line)
            if opt and opt.group(1) == "model":
                options["model"] = opt.group(2)
            elif opt:
                k, _, v = opt.group(2).partition("=")
                options["params"][k.strip()] = _literal(v.strip())
            last_source = i
            continue
        b = _BODY.match(m.group(2))
        if b is None:
            raise AnnotationError(f"line {i}: cannot read the annotation {line!r}")
        file, ln, col = None, last_source, None
        if b.group("caret"):
            if last_source is None:
                raise AnnotationError(f"line {i}: a `^` annotation needs a line above it")
            col = line.index("^") + 1
        else:
            at = b.group("at")
            if at == "-":
                ln = None
            else:
                parts = at.split(":")
                if len(parts) == 1:                       # @COL of the line above
                    col = int(parts[0])
                elif len(parts) == 2:                     # @LINE:COL of this file
                    ln, col = int(parts[0]), int(parts[1])
                else:                                     # @FILE:LINE:COL
                    file, ln, col = ":".join(parts[:-2]), int(parts[-2]), int(parts[-1])
        expected.append(Expected(file, ln, col, b.group("sev").lower(), b.group("code"),
                                 (b.group("text") or "").strip()))
    return expected, options


def _literal(v: str):
    try:
        return int(v)
    except ValueError:
        return {"true": True, "false": False}.get(v, v)


def ui_files() -> list[str]:
    return sorted(f for f in os.listdir(UI_DIR) if f.endswith(".nnd") and os.path.isfile(os.path.join(UI_DIR, f)))


def run_case(name: str):
    """(expected, actual diagnostics, rendered text) for tests/ui/NAME; run
    from the repository root so that paths read `tests/ui/...`."""
    import nnd
    from nnd.diagnostics import render, summary_line
    path = os.path.join("tests", "ui", name)
    old = os.getcwd()
    os.chdir(REPO)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        expected, options = parse_annotations(text)
        res = nnd.check(path, model=options.get("model"), params=options["params"] or None)
    finally:
        os.chdir(old)
    rendered = "".join(render(d, res.sources) + "\n\n" for d in res.diagnostics)
    rendered += summary_line(res.diagnostics) + "\n"
    return path, expected, res.diagnostics, rendered


def compare(path: str, expected: list[Expected], actual) -> list[str]:
    """Problems, as lines; empty when every diagnostic was expected and found."""
    problems = []
    got = []
    for d in actual:
        s = d.span
        file = None if s is None or s.file == path else s.file
        got.append(((file, s.line if s else None, s.column if s else None, d.severity, d.code), d.message))
    remaining = list(got)
    for e in expected:
        match = next((g for g in remaining if g[0] == e.key() and e.text in g[1]), None)
        if match is None:
            near = [g for g in remaining if g[0][3:] == e.key()[3:]]
            where = f"{e.file or path}:{e.line}:{e.column}"
            problems.append(f"expected {e.severity} {e.code} at {where}"
                            + (f" containing {e.text!r}" if e.text else "")
                            + (f"; got {e.code} at " + ", ".join(f"{g[0][1]}:{g[0][2]} ({g[1]!r})" for g in near)
                               if near else "; not reported"))
        else:
            remaining.remove(match)
    for (file, line, col, sev, code), msg in remaining:
        problems.append(f"unexpected {sev} {code} at {file or path}:{line}:{col}: {msg}")
    return problems
