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

import contextlib
import errno
import functools
import hashlib
import os
import re
import stat
import sys
import tempfile
import time

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
            f = HashingWriter(raw) if digest else raw
            self.write(f)
            return f.hexdigest() if digest else None
        return write_atomic(out, write)


class HashingWriter:
    """A file wrapper that hashes what is written through it."""

    def __init__(self, f):
        self.f, self.h = f, hashlib.sha256()

    def write(self, b):
        self.h.update(b)
        return self.f.write(b)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def write_atomic(out: str, write):
    """Call write(f) on a temporary file beside `out`, then rename it to
    `out`; on any failure the temporary file is removed and `out` is left as
    it was. A character device (/dev/null) is written in place; any other
    existing non-regular `out` (a FIFO, a socket, a directory) is refused
    with OSError. Returns what `write` returned."""
    if _through(out):
        with open(out, "wb") as f:
            return write(f)
    with _temporary(os.path.dirname(os.path.abspath(out))) as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            result = write(f)
        _umask_mode(tmp)
        os.replace(tmp, out)
    return result


def _through(out: str) -> bool:
    """Whether `out` is a character device, written through instead of
    replaced (renaming over /dev/null would replace the system's). Other
    non-regular files are refused: a FIFO with no reader would block."""
    try:
        st = os.stat(out)
    except (OSError, ValueError):
        return False   # not there yet (or unreachable: creating the temporary says why)
    if stat.S_ISREG(st.st_mode):
        return False
    if stat.S_ISCHR(st.st_mode):
        return True
    kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a named pipe" if stat.S_ISFIFO(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
            else "not a regular file")
    raise OSError(errno.EINVAL, f"it is {kind}; nndc writes regular files, or through to a character "
                                "device such as /dev/null", out)


# Temporary files are `.nndc-<pid>-<random>.tmp`, so that a later write to
# the same directory can tell those of a process that is gone (killed) and
# remove them. The files this process would leave behind are in `_pending`,
# for remove_pending (the CLI calls it on SIGTERM).
_TEMP = re.compile(r"\.nndc-(\d+)-\w+\.tmp")
_STALE_S = 60   # untouched this long as well: a writer in another PID namespace or host looks dead here
_pending: set[str] = set()


def remove_pending() -> None:
    """Remove the temporaries (and not yet referenced data files) being written."""
    for p in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(p)


@contextlib.contextmanager
def _temporary(d: str):
    """A new temporary file in `d` as (fd, path), removed at the end unless
    it was renamed away; stale ones of dead processes are swept first."""
    _sweep(d)
    fd, tmp = tempfile.mkstemp(prefix=f".nndc-{os.getpid()}-", suffix=".tmp", dir=d)
    _pending.add(tmp)
    try:
        yield fd, tmp
    finally:
        _pending.discard(tmp)
        with contextlib.suppress(FileNotFoundError):   # gone when renamed into place
            os.unlink(tmp)


def _sweep(d: str) -> None:
    try:
        names = os.listdir(d)
    except OSError:
        return
    now = time.time()
    for n in names:
        m = _TEMP.fullmatch(n)
        if m is None or pid_alive(int(m.group(1))):
            continue
        p = os.path.join(d, n)
        with contextlib.suppress(OSError):
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > _STALE_S:
                os.unlink(p)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host may still run (True when unsure)."""
    if os.name != "posix":
        return True   # no cheap check (os.kill would signal it): leave it to the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True   # EPERM: another user's live process; OverflowError: no such pid, a foreign name
    return True


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (after links: same device and inode)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


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
    those of 1 KiB or more go to `<out>.<hash>.data` (ONNX external data,
    offsets aligned to 4096 for memory mapping; the hash is of its bytes).
    Returns the paths written.

    The data file is renamed into place first, under a name the old graph
    does not use, then the graph; `out`'s earlier data files go only once
    the new graph is in place. Whenever it stops, `out` is the old model or
    the new one, each with its own weights."""
    lm = model if isinstance(model, LoweredModel) else LoweredModel.from_proto(model)
    external = external_threshold is not None and sum(_data_bytes(i) for i in lm.inits) > external_threshold
    if _through(out):
        if external:
            raise OSError(errno.EINVAL, "a model with external data needs a regular output file", out)
        lm.save(out)
        return [out]
    d, base = os.path.split(os.path.abspath(out))
    old = _data_files(d, base)
    if not external:
        lm.save(out)
        _remove(d, old)
        return [out]
    with _temporary(d) as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            h = HashingWriter(f)
            inits, made = _externalize(lm.inits, h)
        name = f"{base}.{h.hexdigest()[:16]}.data"
        for t in made:
            t.external_data[0].value = name
        _umask_mode(tmp)
        data_path = os.path.join(os.path.dirname(out), name)
        new = name not in old   # else the same bytes, maybe the old graph's: never removed
        if new:
            _pending.add(data_path)
        try:
            os.replace(tmp, data_path)
            LoweredModel(lm.proto, inits).save(out)
        except BaseException:
            if new:
                with contextlib.suppress(OSError):
                    os.unlink(data_path)
            raise
        finally:
            _pending.discard(data_path)
    _remove(d, old - {name})
    return [out, data_path]


def _data_files(d: str, base: str) -> set[str]:
    """The data files of earlier saves to `base`: `<base>.<hash>.data`, and
    `<base>.data` as nndc wrote it before."""
    pat = re.compile(re.escape(base) + r"(\.[0-9a-f]{16})?\.data")
    try:
        return {n for n in os.listdir(d) if pat.fullmatch(n)}
    except OSError:
        return set()


def _remove(d: str, names) -> None:
    for n in names:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(d, n))


def _data_bytes(i) -> int:
    if isinstance(i, Init):
        return i.array.nbytes
    from onnx import TensorProto
    return 0 if i.t.data_location == TensorProto.EXTERNAL else i.t.ByteSize()


def _externalize(inits: list, f, min_bytes: int = 1024, align: int = 4096) -> tuple[list, list]:
    """The initializers with each one of at least `min_bytes` written to `f`
    and replaced by a TensorProto that points there, and those new
    TensorProtos, whose first external_data entry is the location, left
    empty for the caller; the given initializers are left as they were."""
    from onnx import TensorProto
    out, made, offset = [], [], 0
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
        for k, v in (("location", ""), ("offset", str(offset)), ("length", str(len(payload)))):
            e = t.external_data.add()
            e.key, e.value = k, v
        offset += len(payload)
        out.append(_ProtoInit(t))
        made.append(t)
    return out, made
