"""Dead-node elimination, and the dropping of training-only outputs."""

from __future__ import annotations

import networkx as nx

from ..ir import IR


def eliminate_dead_nodes(ir: IR, *, keep_training_outputs: bool = False) -> int:
    """Remove every node that no graph output needs.

    Live = the nodes of the kept outputs and all their ancestors, plus the
    declared inputs (the model's interface keeps an unused input). A graph
    output marked `training_only` (an auxiliary classifier, a deep-supervision
    head) is dropped first, unless `keep_training_outputs`; the nodes only it
    needed then die with it. If every output is training-only, all are kept:
    a model with no output is not a model.

    Returns the number of nodes removed (dropped outputs are not counted)."""
    kept = ir.outputs
    if not keep_training_outputs:
        inference = [o for o in ir.outputs if not o.training_only]
        if inference:
            kept = inference
    ir.outputs[:] = kept
    live = set(ir.inputs)
    for o in kept:
        if o.node not in live:
            live.add(o.node)
            live |= nx.ancestors(ir.g, o.node)
    dead = [n for n in ir.g.nodes if n not in live]
    ir.g.remove_nodes_from(dead)
    return len(dead)
