"""The long explanation of each diagnostic code: its section of
docs/diagnostics.md, shipped as package data (nnd.docs), so that `nndc
explain` and SARIF rules work from an installed package anywhere."""

from __future__ import annotations

import functools
import re


@functools.cache
def _sections() -> dict[str, str]:
    from importlib import resources
    text = resources.files("nnd.docs").joinpath("diagnostics.md").read_text(encoding="utf-8")
    out, code, lines = {}, None, []
    for line in text.split("\n") + ["## end"]:
        if line.startswith("## "):
            if code is not None:
                out[code] = "\n".join(lines).strip()
            m = re.fullmatch(r"## ([EW]\d{4})\s*", line)
            code, lines = (m.group(1) if m else None), []
        elif code is not None:
            lines.append(line)
    return out


def explanation(code: str) -> str | None:
    """The section's text (markdown) for `code`, or None if it has none."""
    return _sections().get(code.upper())
