"""Writing ONNX files without copying the weights through protobuf.

`ModelProto.SerializeToString()` builds the whole file in memory, one more
copy of every weight on top of the arrays it came from (and making the
ModelProto was already one). Here the model is encoded in pieces instead, in
the protobuf wire format, and each tensor's bytes go from its numpy array
straight to the file:

    ModelProto   = [fields 1..6] [7: graph]        [fields 8..]
    GraphProto   = [fields 1..4] [5: initializer]* [fields 6..]
    TensorProto  = [dims, data_type, name]         [9: raw_data]

Protobuf serializes known fields in field-number order, so the pieces, each
serialized by protobuf itself, concatenate to exactly the bytes
`SerializeToString()` gives (tests/runtime/test_writer.py checks it). The
field numbers are onnx.proto's: ModelProto.graph = 7, GraphProto.initializer
= 5, TensorProto.raw_data = 9.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile

import numpy as np

_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_RAW_DATA = 9
_LEN = 2   # wire type of length-delimited fields
_LIMIT = 2**31 - 1   # protobuf's limit on one message


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int) -> bytes:
    return _varint((field << 3) | _LEN)


class Init:
    """An initializer not yet encoded: a name and a C-contiguous array."""

    __slots__ = ("name", "array", "_prefix")

    def __init__(self, name: str, array: np.ndarray):
        self.name, self.array, self._prefix = name, array, None

    def head(self) -> bytes:
        """The TensorProto's fields other than raw_data, serialized."""
        t = _tensor_proto()()
        t.dims.extend(self.array.shape)
        if self.name:
            t.name = self.name
        t.data_type = _tensor_dtype(self.array.dtype)
        return t.SerializeToString()

    def prefix(self) -> bytes:
        """The encoded TensorProto up to raw_data's bytes: head, then
        raw_data's key and length."""
        if self._prefix is None:
            self._prefix = self.head() + _RAW_DATA_KEY + _varint(self.array.nbytes)
        return self._prefix

    def payload(self) -> memoryview:
        a = self.array
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and sys.byteorder == "big"):
            a = a.astype(a.dtype.newbyteorder("<"))
        return memoryview(np.require(a, requirements="C")).cast("B")

    def encoded_size(self) -> int:
        return len(self.prefix()) + self.array.nbytes

    def write(self, f, before: bytes = b"") -> None:
        """Write the encoded tensor, after `before` (its key in the graph)."""
        f.write(before + self.prefix())
        if self.array.nbytes:
            f.write(self.payload())

    def to_proto(self):
        from onnx import numpy_helper
        return numpy_helper.from_array(self.array, self.name)


_RAW_DATA_KEY = _key(_TENSOR_RAW_DATA)


@functools.lru_cache(maxsize=None)
def _tensor_proto():
    from onnx import TensorProto   # onnx only when writing
    return TensorProto


@functools.lru_cache(maxsize=None)
def _tensor_dtype(dtype: np.dtype) -> int:
    from onnx import helper
    return helper.np_dtype_to_tensor_dtype(dtype)


class _ProtoInit:
    """An initializer that is already a TensorProto (a loaded or built model)."""

    __slots__ = ("t",)

    def __init__(self, t):
        self.t = t

    def encoded_size(self) -> int:
        return self.t.ByteSize()

    def write(self, f, before: bytes = b"") -> None:
        f.write(before)
        f.write(self.t.SerializeToString())   # one tensor's copy at a time


def _copy_fields(msg, keep):
    """A new message of msg's type with the fields whose number passes
    `keep`, copied field by field (the others are never copied)."""
    out = type(msg)()
    for fd, v in msg.ListFields():
        if not keep(fd.number):
            continue
        if _repeated(fd):
            getattr(out, fd.name).extend(v)
        elif fd.message_type is not None:
            getattr(out, fd.name).CopyFrom(v)
        else:
            setattr(out, fd.name, v)
    return out


def _without(msg, field_number: int):
    """A copy of `msg` without one field, made without copying that field."""
    return _copy_fields(msg, lambda n: n != field_number)


def _repeated(fd) -> bool:
    rep = getattr(fd, "is_repeated", None)   # protobuf >= 5.28; `label` is deprecated there
    return bool(rep) if rep is not None else fd.label == fd.LABEL_REPEATED


def _split(msg, field_number: int) -> tuple[bytes, bytes]:
    """`msg` (which must not hold `field_number`) serialized as the fields
    numbered below it and the fields numbered above it."""
    # Fields serialize in number order, so the low part is a prefix of the
    # whole: serialize the whole once, and the (small) high fields alone.
    hi = _copy_fields(msg, lambda n: n > field_number)
    full, tail = msg.SerializeToString(), hi.SerializeToString()
    if full.endswith(tail):
        return full[:len(full) - len(tail)], tail
    lo = type(msg)()   # not in field order after all: split field by field
    lo.CopyFrom(msg)
    for fd, _ in msg.ListFields():
        if fd.number > field_number:
            lo.ClearField(fd.name)
    return lo.SerializeToString(), tail


class LoweredModel:
    """A ModelProto whose graph holds no initializers yet, plus the
    initializers to write after its nodes."""

    def __init__(self, proto, inits: list):
        self.proto = proto          # onnx.ModelProto, graph.initializer empty
        self.inits = inits          # list of Init / _ProtoInit, in order

    @classmethod
    def from_proto(cls, model) -> "LoweredModel":
        """Wrap a complete ModelProto to write it tensor by tensor."""
        shell = _without(model, _MODEL_GRAPH)
        shell.graph.CopyFrom(_without(model.graph, _GRAPH_INITIALIZER))
        return cls(shell, [_ProtoInit(t) for t in model.graph.initializer])

    def to_proto(self):
        """The complete onnx.ModelProto (copies every weight into it)."""
        from onnx import ModelProto
        m = ModelProto()
        m.CopyFrom(self.proto)
        m.graph.initializer.extend(i.to_proto() if isinstance(i, Init) else i.t for i in self.inits)
        return m

    def _pieces(self):
        g_lo, g_hi = _split(self.proto.graph, _GRAPH_INITIALIZER)
        init_key = _key(_GRAPH_INITIALIZER)
        sizes = [i.encoded_size() for i in self.inits]
        graph_size = len(g_lo) + len(g_hi) + sum(len(init_key) + len(_varint(s)) + s for s in sizes)
        shell = _without(self.proto, _MODEL_GRAPH)
        m_lo, m_hi = _split(shell, _MODEL_GRAPH)
        return m_lo, g_lo, sizes, g_hi, m_hi, graph_size

    def nbytes(self) -> int:
        m_lo, _, _, _, m_hi, graph_size = self._pieces()
        return len(m_lo) + len(_key(_MODEL_GRAPH)) + len(_varint(graph_size)) + graph_size + len(m_hi)

    def write(self, f) -> int:
        """Write the serialized model to a binary file object; returns its size."""
        m_lo, g_lo, sizes, g_hi, m_hi, graph_size = self._pieces()
        total = len(m_lo) + len(_key(_MODEL_GRAPH)) + len(_varint(graph_size)) + graph_size + len(m_hi)
        if total > _LIMIT:
            raise ValueError(f"the model is {total / 2**30:.2f} GiB; an ONNX file holds at most 2 GiB "
                             "(protobuf's limit) without external data")
        f.write(m_lo)
        f.write(_key(_MODEL_GRAPH) + _varint(graph_size))
        f.write(g_lo)
        init_key = _key(_GRAPH_INITIALIZER)
        for init, size in zip(self.inits, sizes):
            init.write(f, init_key + _varint(size))
        f.write(g_hi)
        f.write(m_hi)
        return total

    def to_bytes(self) -> bytes:
        import io
        buf = io.BytesIO()
        self.write(buf)
        return buf.getvalue()

    def save(self, out: str, digest: bool = False) -> str | None:
        """Write atomically: a temporary file beside `out`, then a rename.
        With digest=True, returns the sha256 of the bytes written."""
        def write(raw):
            f = _Hashing(raw) if digest else raw
            self.write(f)
            return f.hexdigest() if digest else None
        return _write_atomic(out, write)


class _Hashing:
    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def write(self, b):
        self.h.update(b)
        return self.f.write(b)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def _write_atomic(out: str, write):
    """Call write(f) on a temporary file beside `out`, then rename it to
    `out`; on any failure the temporary file is removed and `out` is left as
    it was. Returns what `write` returned."""
    fd, tmp = tempfile.mkstemp(prefix=".nndc-", suffix=".tmp", dir=os.path.dirname(os.path.abspath(out)))
    try:
        with os.fdopen(fd, "wb") as f:
            result = write(f)
        _umask_mode(tmp)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return result


def _umask_mode(path: str) -> None:
    """mkstemp makes files 0600; give the output the usual 0666 & ~umask."""
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.chmod(path, 0o666 & ~mask)
    except OSError:
        pass


def save(model, out: str, external_threshold: int | None = None) -> list[str]:
    """Write a ModelProto or a LoweredModel to `out`, atomically, tensor by
    tensor. When its initializers hold more than `external_threshold` bytes,
    those of 1 KiB or more go to `<out>.data` (ONNX external data, offsets
    aligned to 4096 for memory mapping). Returns the paths written."""
    lm = model if isinstance(model, LoweredModel) else LoweredModel.from_proto(model)
    if external_threshold is None or sum(_data_bytes(i) for i in lm.inits) <= external_threshold:
        lm.save(out)
        return [out]
    data_path = out + ".data"
    inits = _write_atomic(data_path, lambda f: _externalize(lm.inits, f, os.path.basename(data_path)))
    LoweredModel(lm.proto, inits).save(out)
    return [out, data_path]


def _data_bytes(i) -> int:
    if isinstance(i, Init):
        return i.array.nbytes
    from onnx import TensorProto
    return 0 if i.t.data_location == TensorProto.EXTERNAL else i.t.ByteSize()


def _externalize(inits: list, f, location: str, min_bytes: int = 1024, align: int = 4096) -> list:
    """The initializers with each one of at least `min_bytes` written to `f`
    and replaced by a TensorProto that points there; the given ones are left
    as they were."""
    from onnx import TensorProto
    out, offset = [], 0
    for i in inits:
        if isinstance(i, Init):
            if i.array.nbytes < min_bytes:
                out.append(i)
                continue
            t = TensorProto()
            t.ParseFromString(i.head())
            payload = i.payload()
        else:
            if (i.t.data_location == TensorProto.EXTERNAL or not i.t.HasField("raw_data")
                    or len(i.t.raw_data) < min_bytes):
                out.append(i)
                continue
            t, payload = _without(i.t, _TENSOR_RAW_DATA), i.t.raw_data
        pad = -offset % align
        f.write(b"\0" * pad)
        offset += pad
        f.write(payload)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(offset)), ("length", str(len(payload)))):
            e = t.external_data.add()
            e.key, e.value = k, v
        offset += len(payload)
        out.append(_ProtoInit(t))
    return out
