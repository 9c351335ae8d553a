"""Warnings about programs that compile but are probably not what was meant."""

from __future__ import annotations

from .diagnostics import Diagnostic
from .ir import IR


def lint(ir: IR) -> list[Diagnostic]:
    return []
