"""Robustness: random grammatical programs and randomly damaged ones never
make `nndc check` raise; it exits 0 or 1, and a failure points at a real
place in the source. A few hundred cases here (derandomized, so CI is
repeatable); `python scripts/fuzz.py` runs as many random ones as you like."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
import pytest

from fuzzing import arguments, check_input, mutated, program

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=200, **SETTINGS)
@given(program())
def test_random_programs(tmp_path_factory, text):
    check_input(text.encode(), str(tmp_path_factory.getbasetemp()))


@settings(max_examples=200, **SETTINGS)
@given(mutated())
def test_damaged_programs(tmp_path_factory, data):
    check_input(data, str(tmp_path_factory.getbasetemp()))


@settings(max_examples=200, **SETTINGS)
@given(arguments())
def test_empty_and_huge_argument_lists(tmp_path_factory, text):
    """Every builtin and layer with no arguments, thousands, or integers
    like 1000000000 (this found `concat()` raising IndexError and
    `Split(1000000000)` allocating 4 GB)."""
    check_input(text.encode(), str(tmp_path_factory.getbasetemp()))


def test_some_generated_programs_compile(tmp_path):
    """The generator reaches deep paths only if some programs are valid."""
    from hypothesis import find
    from nnd import api

    def clean(text):
        (tmp_path / "p.nnd").write_text(text)
        res = api.check(str(tmp_path / "p.nnd"))
        return res.ok and res.ir.layer_count() >= 3

    text = find(program(), clean, settings=settings(max_examples=2000, database=None, derandomize=True, deadline=None))
    assert "model M" in text
