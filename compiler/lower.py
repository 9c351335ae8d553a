"""IR -> ONNX ModelProto.

Each IR node is lowered by its layer entry's `lower`, through an `Emitter`
that names ONNX tensors and nodes deterministically and stamps each ONNX node
with the source location of the layer that made it. Only the standard ONNX
domain is used, at a pinned opset and IR version that onnxruntime accepts.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

from .ir import IR
from .layers import REGISTRY
from .shapes import ATOMS, Sym
from .writer import Init, LoweredModel

OPSET = 21
IR_VERSION = 10   # onnx 1.23 writes IR 14 by default; onnxruntime 1.31 accepts at most 11


class Emitter:
    """What a layer's `lower` uses to emit ONNX nodes and initializers."""

    def __init__(self, ir: IR):
        self.ir = ir
        # Nodes are built in place in the model's graph (no copy at the end).
        self.model = onnx.ModelProto()
        self.nodes = self.model.graph.node
        self.initializers: list[Init] = []   # encoded at write time (see LoweredModel)
        self._names: set[str] = set()
        self._const_cache: dict = {}
        self.layer = ""        # the IR node being lowered
        self.doc = ""
        self.arrays: dict = {}
        self.weight_names: dict = {}   # the layer's weights named otherwise than `<layer>.<weight>`
        self._emitted: dict = {}       # initializer name -> its array (a shared weight is written once)
        self._k = 0
        self.symbols: dict[str, tuple] = {}   # a symbol -> (input name, axis, coefficient, constant)
        self._dims: dict = {}

    def dim(self, d) -> str:
        """A size as a 1-D int64 tensor of one element: a constant if it is
        known, else computed at run time from the inputs' shapes (each
        symbol from the input dimension that holds it, opaque atoms by
        their definition in shapes.ATOMS). Cached per size."""
        if isinstance(d, int):
            return self.const([d], hint="size")
        if d in self._dims:
            return self._dims[d]
        terms = []
        for atom, c in d.terms.items():
            t = self._atom(atom)
            terms.append(t if c == 1 else self.op("Mul", [t, self.const([c], hint="size")]))
        out = terms[0]
        for t in terms[1:]:
            out = self.op("Add", [out, t])
        if d.const:
            out = self.op("Add", [out, self.const([d.const], hint="size")])
        self._dims[d] = out
        return out

    def _atom(self, atom: str) -> str:
        if atom in ATOMS:
            op, a, b = ATOMS[atom]
            # Sizes are not negative, where ONNX's integer Div (truncating) is floor division.
            if op == "ceil":   # ceil(a / b) = (a + b - 1) // b
                return self.op("Div", [self.op("Add", [self.dim(a), self.dim(b - 1)]), self.dim(b)])
            return self.op("Mul" if op == "*" else "Div", [self.dim(a), self.dim(b)])
        if atom not in self.symbols:
            raise ValueError(f"the size `{atom}` is not a dimension of any input")
        name, axis, c, k = self.symbols[atom]
        t = self.op("Shape", [name], start=axis, end=axis + 1)
        if k:
            t = self.op("Sub", [t, self.const([k], hint="size")])
        if c != 1:
            t = self.op("Div", [t, self.const([c], hint="size")])
        return t

    def sizes(self, dims) -> str:
        """A shape as a 1-D int64 tensor (see `dim`); a constant if all are known."""
        if all(isinstance(d, int) for d in dims):
            return self.const(list(dims), hint="shape")
        return self.op("Concat", [self.dim(d) for d in dims], axis=0)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            name = f"{base}_{k}"
            k += 1
        self._names.add(name)
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs):
        """Emit one node; returns its output name (or list of names if n_out > 1)."""
        base = self.layer if self._k == 0 else f"{self.layer}/{op_type}"
        self._k += 1
        outs = [self.fresh(base if n_out == 1 else f"{base}:{i}") for i in range(n_out)]
        # What helper.make_node builds, field for field, without its copies.
        node = self.nodes.add()
        node.op_type = op_type
        node.input.extend(inputs)
        node.output.extend(outs)
        node.name = self.fresh("node:" + base)
        if self.doc:
            node.doc_string = self.doc
        for k in sorted(attrs):
            v = attrs[k]
            if v is not None:
                _attribute(node.attribute, k, v)
        return outs[0] if n_out == 1 else outs

    def weight(self, pname: str, shape: tuple | None = None) -> str:
        """The initializer holding this layer's parameter `pname`. The IR keeps
        PyTorch's layout; `shape` stores it reshaped for the ONNX op (e.g. a
        PReLU slope [C] as [C, 1, 1]) while it stays a plain constant."""
        name = self.weight_names.get(pname) or f"{self.layer}.{pname}"
        arr = self.arrays[pname]
        if shape is not None:
            arr = arr.reshape(shape)
        first = self._emitted.get(name)
        if first is not None:
            # A later use of a shared weight: the one initializer. Passes that
            # rewrite weights leave shared ones alone, so they must be equal.
            if first is not arr and not np.array_equal(first, arr):
                raise RuntimeError(f"the uses of shared weight {name} differ")
            return name
        self._emitted[name] = arr
        self._names.add(name)
        self.initializers.append(Init(name, np.require(arr, np.float32, "C")))   # no copy when it fits; 0-d stays 0-d
        return name

    def const(self, value, dtype=np.int64, hint: str = "const") -> str:
        """A constant initializer (shapes, axes, pads...), shared when equal."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key in self._const_cache:
            return self._const_cache[key]
        name = self.fresh(f"{self.layer}/{hint}")
        self.initializers.append(Init(name, np.require(arr, requirements="C")))
        self._const_cache[key] = name
        return name


# The language's dtypes (shapes.DTYPES) as ONNX element types.
ELEM_TYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32,
              "bool": TensorProto.BOOL}


def _value_info(name: str, shape, dtype: str = "float32") -> onnx.ValueInfoProto:
    dims = []
    for d in shape:
        if isinstance(d, int):
            dims.append(d)
        elif isinstance(d, Sym) and d.is_symbol():
            dims.append(str(d))
        else:
            dims.append(None)   # a derived symbolic size: left for the runtime
    return helper.make_tensor_value_info(name, ELEM_TYPES[dtype], dims)


def lower(ir: IR, source: str = "", root: str | None = None) -> onnx.ModelProto:
    """The complete ModelProto (every initializer's bytes copied into it)."""
    return lower_lazy(ir, source, root).to_proto()


def lower_lazy(ir: IR, source: str = "", root: str | None = None) -> "LoweredModel":
    """The model with its initializers left as the IR's arrays, to be written
    straight to a file (`LoweredModel.save`) or turned into a ModelProto."""
    e = Emitter(ir)
    tensor: dict[tuple[int, int], str] = {}
    inputs = []
    for n in ir.inputs:
        d = ir.node(n)
        e._names.add(d["name"])
        tensor[(n, 0)] = d["name"]
        inputs.append(_value_info(d["name"], d["shapes"][0], ir.dtype_of(n)))
        for axis, dim in enumerate(d["shapes"][0]):
            # `[N, 2*H + 1]`: H is (that dimension - 1) / 2.
            if isinstance(dim, Sym) and len(dim.terms) == 1 and next(iter(dim.terms)) not in ATOMS:
                (atom, c), = dim.terms.items()
                e.symbols.setdefault(atom, (d["name"], axis, c, dim.const))
    wanted: dict[tuple[int, int], str] = {}
    for o in ir.outputs:
        wanted.setdefault((o.node, o.port), o.name)
        e._names.add(o.name)
    for n in ir.order():
        d = ir.node(n)
        if d["kind"] == "Input":
            continue
        e.weight_names = {p: w.name for p, w in (d["attrs"].get("weights") or {}).items() if w.name}
        if d["kind"] in ("Constant", "Param"):   # a folded value (passes/constants.py); a learned tensor
            e.layer, e.arrays = d["name"], d["arrays"]
            tensor[(n, 0)] = e.weight(next(iter(d["arrays"])))
            continue
        spec = REGISTRY[d["kind"]]
        e.layer, e.doc, e.arrays, e._k = d["name"], _where(d["span"], root), d.get("arrays", {}), 0
        first = len(e.nodes)
        ins = [tensor[src] for src in ir.inputs_of(n)]
        outs = spec.lower(e, d["attrs"], ins)
        for port, t in enumerate(outs):
            want = wanted.get((n, port))
            if want is not None and t != want:
                t = _rename_output(e, first, t, want)
            tensor[(n, port)] = t
    outputs = []
    for o in ir.outputs:
        t = tensor[(o.node, o.port)]
        if t != o.name:   # the same tensor under a second name, or an input passed through
            e.nodes.add(op_type="Identity", input=[t], output=[o.name], name=e.fresh("node:" + o.name))
        outputs.append(_value_info(o.name, ir.node(o.node)["shapes"][o.port], ir.dtype_of(o.node, o.port)))
    # helper.make_graph and make_model would copy every node twice.
    model = e.model
    model.graph.name = ir.name
    model.graph.input.extend(inputs)
    model.graph.output.extend(outputs)
    model.graph.value_info.extend(_intermediates(ir, tensor, e))
    model.ir_version = IR_VERSION
    model.opset_import.append(helper.make_opsetid("", OPSET))
    model.producer_name = "nndc"
    model.producer_version = _version()
    props = {"nnd.source": source, "nnd.model": str(ir.meta.get("model", ir.name))} if source else {}
    highs = _input_highs(ir)
    if source and "optimized" in ir.meta:   # -O1 folds BatchNorm: its parameters are gone
        props["nnd.optimized"] = "1" if ir.meta["optimized"] else "0"
    if highs:
        props["nnd.input_high"] = ",".join(f"{k}={v}" for k, v in highs.items())
    if props:
        helper.set_model_props(model, props)
    return LoweredModel(model, e.initializers)


def _intermediates(ir: IR, tensor: dict, e: Emitter) -> list:
    """value_info for the tensors between layers (what Netron shows on the
    edges), from the shapes the compiler inferred: every layer output that
    is neither a graph input or output nor an initializer, in model order."""
    skip = {vi for vi in (ir.node(n)["name"] for n in ir.inputs)}
    skip.update(o.name for o in ir.outputs)
    skip.update(i.name for i in e.initializers)
    out, made = [], {}
    for (n, port), name in sorted(tensor.items()):
        shape = ir.node(n)["shapes"][port]
        if name in skip or shape is None:
            continue
        skip.add(name)
        # Many tensors share a type: build each type once (onnx.helper is
        # slow), then copy it under each tensor's name; the bytes are the same.
        key = (tuple(shape), ir.dtype_of(n, port))
        proto = made.get(key)
        if proto is None:
            proto = made[key] = _value_info(name, *key)
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(proto)
        vi.name = name
        out.append(vi)
    return out


def _input_highs(ir: IR) -> dict:
    """{integer input: high} when its values are ids into tables (an
    `Embedding`): the smallest table it indexes. `nndc run` draws its random
    values in [0, high)."""
    out = {}
    for n in ir.inputs:
        if ir.dtype_of(n) not in ("int64", "int32"):
            continue
        highs = []
        for v, port in ir.consumers(n):
            d = ir.node(v)
            spec = REGISTRY.get(d["kind"])
            highs.append(spec.input_high(d["attrs"], port) if spec is not None else None)
        if highs and all(h is not None for h in highs):
            out[ir.node(n)["name"]] = min(highs)
    return out


_INT, _FLOAT, _STRING = onnx.AttributeProto.INT, onnx.AttributeProto.FLOAT, onnx.AttributeProto.STRING
_INTS, _FLOATS = onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS


def _attribute(container, key: str, v) -> None:
    """helper.make_attribute's result for the common values, built in place."""
    t = type(v)
    if t is int or t is bool:
        container.add(name=key, i=int(v), type=_INT)
    elif t is float:
        container.add(name=key, f=v, type=_FLOAT)
    elif t is str:
        container.add(name=key, s=v.encode("utf-8"), type=_STRING)
    elif (t is list or t is tuple) and v and all(type(x) is int for x in v):
        container.add(name=key, ints=v, type=_INTS)
    elif (t is list or t is tuple) and v and all(type(x) in (int, float) for x in v):
        container.add(name=key, floats=v, type=_FLOATS)
    else:
        container.append(helper.make_attribute(key, v))


def _rename_output(e: Emitter, first: int, t: str, want: str) -> str:
    """Give the tensor `t`, made by this layer's nodes, the graph output name."""
    mine = e.nodes[first:]
    producer = next((nd for nd in reversed(mine) if t in nd.output), None)
    if producer is None or any(t in nd.input for nd in mine):
        return t   # an Identity is added at the end instead
    producer.output[list(producer.output).index(t)] = want
    return want


def _where(span, root: str | None = None) -> str:
    """A node's doc_string: where its layer is written. With `root` (the
    root file's directory), a file's path is relative to it, with `/`, so
    that the bytes do not depend on how the path was typed."""
    if span is None:
        return ""
    return f"{_relative(span.file, root)}:{span.line}:{span.column}"


@functools.lru_cache(maxsize=256)
def _relative(file: str, root: str | None) -> str:
    if root is None or file.startswith(("<", "std:")) or not os.path.exists(file):
        return file
    return os.path.relpath(os.path.abspath(file), root).replace(os.sep, "/")


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("nnd")
    except Exception:
        return "0"
