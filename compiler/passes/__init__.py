"""Graph passes over the IR, run in one ordered pipeline (see PIPELINE).

A pass is a plain function `pass_name(ir) -> int`: it rewrites the IR in
place, after the weights are materialized (node data `arrays`), and returns
how many rewrites it made. Its docstring states the algebra that makes the
rewrite exact. Options reach the passes that declare them as keyword-only
parameters (`eliminate_dead_nodes(ir, *, keep_training_outputs=False)`).

Every pass keeps what lowering needs: attrs consistent with arrays (a folded
bias is declared in `attrs.weights` and `attrs.bias`), weights as plain
arrays (they become constant initializers, never computed subgraphs), and
node shapes unchanged except where a node is removed.
"""

from __future__ import annotations

import inspect

from ..ir import IR
from .batchnorm import fold_batchnorm_into_conv, fold_batchnorm_into_linear
from .constants import fold_constants
from .cse import eliminate_common_subexpressions
from .dead import eliminate_dead_nodes
from .gemm import fuse_flatten_linear_into_gemm
from .identity import eliminate_dropout, eliminate_identity, eliminate_noop_pooling
from .pad import fold_pad_into_conv, fold_pad_into_pool

PIPELINE: list = [
    eliminate_dead_nodes,             # first: training-only heads go before anything works on them
    eliminate_dropout,
    eliminate_identity,
    fold_constants,
    eliminate_common_subexpressions,
    fold_pad_into_conv,
    fold_pad_into_pool,
    eliminate_noop_pooling,
    fold_batchnorm_into_conv,
    fold_batchnorm_into_linear,
    fuse_flatten_linear_into_gemm,
]


def run_pipeline(ir: IR, report: list | None = None, **options) -> None:
    """Run PIPELINE in order. `report` (a list) receives one
    (pass name, rewrites, nodes before, nodes after) per pass; `options`
    (e.g. keep_training_outputs=True) go to the passes that take them."""
    for p in PIPELINE:
        params = inspect.signature(p).parameters
        kw = {k: v for k, v in options.items() if k in params}
        before = ir.g.number_of_nodes()
        changed = p(ir, **kw)
        if report is not None:
            report.append((p.__name__, changed, before, ir.g.number_of_nodes()))
