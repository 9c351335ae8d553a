"""The path from a feature map into a fully connected layer."""

from __future__ import annotations

from ..ir import IR
from ._util import family, is_output


def fuse_flatten_linear_into_gemm(ir: IR) -> int:
    """Flatten(s_k) -> ... -> Flatten(s_1) -> Linear  =>  one Flatten -> Gemm.

    A Linear over [N, F] lowers to a single ONNX Gemm (transB = 1) reading its
    weight and bias as plain initializers, which is what onnxruntime runs
    best; Gemm only takes 2-D operands, so the Flatten before it stays (it is
    a zero-copy alias in onnxruntime). What fuses is a chain of flattens:
    every Flatten is a row-major reshape, and flatten(flatten(x, a), b) =
    flatten(x, b) for b <= a (always: a flattened tensor has rank a + 1), so
    the Flatten next to the Linear reads the chain's source directly, or the
    Linear does when that source is already [N, F]. Flattens nothing else
    reads any more are removed.

    Measured and not done: GlobalAveragePool + Flatten -> ReduceMean
    (keepdims = 0) saves a node but no time in onnxruntime (its NCHWc layout
    keeps GlobalAveragePool native; ReduceMean costs a layout reorder).
    Returns the number of Flatten layers bypassed."""
    count = 0
    for n in ir.order():
        if n not in ir.g or family(ir, n) != "Linear" or ir.node(n)["attrs"].get("in_rank") != 2:
            continue
        f, _ = ir.inputs_of(n)[0]
        if family(ir, f) != "Flatten":
            continue
        chain, src = [f], ir.inputs_of(f)[0]
        while family(ir, src[0]) == "Flatten":
            chain.append(src[0])
            src = ir.inputs_of(src[0])[0]
        shape = ir.node(src[0])["shapes"][src[1]]
        if len(shape) == 2:            # already [N, F]: the Linear reads it
            reader, reader_port = n, 0
        elif len(chain) > 1:           # the outer Flatten reads the source
            reader, reader_port = f, 0
        else:
            continue
        old_src = ir.inputs_of(reader)[reader_port][0]
        for u, v, k, d in list(ir.g.in_edges(reader, keys=True, data=True)):
            if d["dst_port"] == reader_port:
                ir.g.remove_edge(u, v, k)
        ir.g.add_edge(src[0], reader, src_port=src[1], dst_port=reader_port, shape=shape)
        count += len(chain) if reader == n else len(chain) - 1
        for m in [old_src] + chain:    # now possibly unread
            if m in ir.g and m != reader and not ir.consumers(m) and not is_output(ir, m):
                ir.g.remove_node(m)
    return count
