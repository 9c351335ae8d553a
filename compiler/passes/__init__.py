"""Graph passes over the IR, run in one ordered pipeline (see PIPELINE)."""

from __future__ import annotations

from ..ir import IR

PIPELINE: list = []


def run_pipeline(ir: IR, report: list | None = None) -> None:
    for p in PIPELINE:
        before = ir.g.number_of_nodes()
        changed = p(ir)
        if report is not None:
            report.append((p.__name__, changed, before, ir.g.number_of_nodes()))
