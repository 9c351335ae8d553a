"""UI tests: every tests/ui/*.nnd against its annotations and its .stderr
snapshot. NND_BLESS=1 rewrites the snapshots (then review the diff)."""

from __future__ import annotations

import os

import pytest

from ui_harness import UI_DIR, compare, run_case, ui_files


@pytest.mark.parametrize("name", ui_files())
def test_ui(name):
    path, expected, actual, rendered = run_case(name)
    problems = compare(path, expected, actual)
    assert not problems, "\n".join(problems) + "\n\nthe compiler said:\n" + rendered
    snap = os.path.join(UI_DIR, name[:-4] + ".stderr")
    if os.environ.get("NND_BLESS"):
        with open(snap, "w", encoding="utf-8") as f:
            f.write(rendered)
        return
    assert os.path.exists(snap), f"no snapshot {snap}; run with NND_BLESS=1 to write it"
    with open(snap, encoding="utf-8") as f:
        want = f.read()
    assert rendered == want, f"the output of {path} differs from {snap} (NND_BLESS=1 rewrites it):\n{rendered}"


def test_every_diagnostic_code_has_a_ui_case():
    """A code added to the catalogue needs a program here that produces it."""
    import re
    from nnd.diagnostics import CATALOGUE
    seen = set()
    for name in ui_files():
        with open(os.path.join(UI_DIR, name[:-4] + ".stderr"), encoding="utf-8", errors="replace") as f:
            seen |= set(re.findall(r"(?:error|warning)\[([EW]\d{4})\]", f.read()))
    assert sorted(set(CATALOGUE) - seen) == []
