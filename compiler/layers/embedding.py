"""Embedding: a lookup table from integer ids to vectors, as PyTorch's nn.Embedding."""

from __future__ import annotations

from .base import P, Case, Layer, ShapeError, Weight, _show, register


@register
class Embedding(Layer):
    """A table of `num_embeddings` vectors of `embedding_dim` values, indexed
    by an integer tensor: ids `[*]` (int64 or int32) give `[*, embedding_dim]`
    (float32). The weight is PyTorch's `weight` `[num_embeddings,
    embedding_dim]`, initialized as PyTorch does: normal(0, 1), with the row
    `padding_idx` zeroed when it is given (a negative `padding_idx` counts
    from the end). Lowered to ONNX `Gather`. An id outside `[0,
    num_embeddings)` is an error at run time in onnxruntime, as in PyTorch
    (a negative id is not: ONNX `Gather` counts it from the end). `max_norm`
    (renormalizing rows as they are looked up) is not supported."""

    names = {"Embedding": None}
    params = (P("num_embeddings", "int", doc="the size of the table: ids are in [0, num_embeddings)"),
              P("embedding_dim", "int", doc="the size of each vector"),
              P("padding_idx", "any", None, doc="an id whose row starts at zero"),
              P("max_norm", "any", None, doc="only `none`"))
    dtypes = ("int64", "int32")
    cases = [Case("Embedding(10, 4)", [[2, 5]], dtypes=["int64"], high=10),
             Case("Embedding(7, 3, padding_idx = 0)", [[6]], dtypes=["int32"], high=7),
             Case("Embedding(5, 6, padding_idx = -1)", [[2, 3, 4]], dtypes=["int64"], high=5)]

    def validate(self, a):
        for name in ("num_embeddings", "embedding_dim"):
            if a[name] <= 0:
                raise ShapeError("E0107", f"`{name}` must be positive; got {a[name]}", arg=name)
        p = a.padding_idx
        if p is not None:
            if not isinstance(p, int) or isinstance(p, bool):
                raise ShapeError("E0106", f"`padding_idx` must be an integer; got {_show(p)}", arg="padding_idx")
            if not -a.num_embeddings <= p < a.num_embeddings:
                raise ShapeError("E0107", f"`padding_idx` {p} is out of range for {a.num_embeddings} embeddings",
                                 arg="padding_idx", help=f"it must be in [-{a.num_embeddings}, {a.num_embeddings})")
        if a.max_norm is not None:
            raise ShapeError("E0107", "`max_norm` is not supported", arg="max_norm",
                             help="rows are renormalized only in training; leave it out for inference")

    def infer(self, a, ins):
        pad = None if a.padding_idx is None else a.padding_idx % a.num_embeddings
        a.weights["weight"] = Weight((a.num_embeddings, a.embedding_dim), init="normal", args=(0.0, 1.0), zero_row=pad)
        return [tuple(ins[0]) + (a.embedding_dim,)]

    def input_high(self, a, i):
        return a.num_embeddings

    def lower(self, e, a, ins):
        return [e.op("Gather", [e.weight("weight"), ins[0]], axis=0)]

    def reference(self, a):
        import torch

        # The caller's weight itself (not a copy), so gradients reach it; padding_idx's row gets none.
        return lambda xs, p: [torch.nn.functional.embedding(xs[0], p["weight"], padding_idx=a.padding_idx)]
