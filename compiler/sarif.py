"""Diagnostics as a SARIF 2.1.0 log, for code scanning in CI.

One run, with `nndc` as the tool; its rules are the catalogue's codes (all of
them, so that a rule index is stable from run to run), each result one
diagnostic. Locations are relative URIs as the files were named on the
command line; columns count Unicode code points, as the compiler's do, which
the run declares with `columnKind`. Secondary labels become related
locations; notes and the help line are appended to the message text. A
diagnostic with no place in a file (a file that cannot be read, no model
to compile) is located at the whole file it concerns, the one checked. An
internal error is a run whose invocation failed, with the error as its
notification and no results.
"""

from __future__ import annotations

import os
from urllib.parse import quote

from .catalogue_text import explanation
from .diagnostics import CATALOGUE, ERROR, Diagnostic, Span

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("nnd")
    except Exception:  # not installed (e.g. run from a source tree)
        return "0.0.0"


def _uri(file: str) -> str:
    path = file.replace(os.sep, "/")
    if os.path.isabs(file):
        return "file://" + quote(path)
    return quote(path)


def _region(s: Span) -> dict:
    return {"startLine": s.line, "startColumn": s.column, "endLine": s.end_line,
            "endColumn": max(s.end_column, s.column + 1) if s.end_line == s.line else s.end_column}


def _location(s: Span, message: str | None = None, id: int | None = None) -> dict:
    loc: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(s.file)}, "region": _region(s)}}
    if id is not None:
        loc["id"] = id
    if message:
        loc["message"] = {"text": message}
    return loc


def rules() -> list[dict]:
    out = []
    for code, (severity, title) in CATALOGUE.items():
        out.append({
            "id": code,
            "name": "".join(w.capitalize() for w in title.replace("`", "").split() if w.isalnum()) or code,
            "shortDescription": {"text": title},
            "fullDescription": {"text": explanation(code) or title},
            "help": {"text": explanation(code) or title, "markdown": explanation(code) or title},
            "defaultConfiguration": {"level": "error" if severity == ERROR else "warning"},
        })
    return out


def result(d: Diagnostic, index: dict[str, int], file: str | None = None) -> dict:
    text = d.message
    for note in d.notes:
        text += "\n" + note
    if d.help:
        text += "\nhelp: " + d.help
    r: dict = {
        "ruleId": d.code,
        "ruleIndex": index[d.code],
        "level": "error" if d.is_error else "warning",
        "message": {"text": text},
    }
    if d.span is not None:
        r["locations"] = [_location(d.span)]
    elif file is not None:   # about the file as a whole: no region
        r["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": _uri(file)}}}]
    related = [_location(l.span, l.text, i) for i, l in enumerate(d.labels, 1) if l.span is not None]
    if related:
        r["relatedLocations"] = related
    return r


def to_sarif(diags: list[Diagnostic], files: list[str | None] | None = None) -> dict:
    """`files`, beside `diags`: the file checked when each was found."""
    rule_list = rules()
    index = {r["id"]: i for i, r in enumerate(rule_list)}
    files = files or [None] * len(diags)
    return _log([result(d, index, f) for d, f in zip(diags, files)], rule_list)


def internal_error(message: str) -> dict:
    """The log of a run that nndc could not finish (a bug in nndc)."""
    run_log = _log([], rules())
    run_log["runs"][0]["invocations"] = [{
        "executionSuccessful": False,
        "exitCode": 3,
        "toolExecutionNotifications": [{"level": "error", "message": {"text": message},
                                        "descriptor": {"id": "internal-error"}}],
    }]
    return run_log


def _log(results: list[dict], rule_list: list[dict]) -> dict:
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "nndc", "version": _version(), "rules": rule_list}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
