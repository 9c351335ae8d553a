"""A loaded model, ready to run: `nnd.load(...)` and `Model.run(...)`.

    import nnd
    m = nnd.load("resnet50.nnd")                 # or an .onnx file, or nnd.compile(...)'s result
    m.inputs                                     # [IO(name='image', shape=['N', 3, 224, 224], dtype=float32)]
    y = m.run(x)                                 # {'logits': array(...)}
    y = m.run({"image": x})                      # the same, by name
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from .session import SessionInfo, create_session

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


@dataclass(frozen=True)
class IO:
    """One input or output: its name, shape (ints, or names for symbolic
    dimensions, or None when unknown) and numpy dtype."""

    name: str
    shape: tuple
    dtype: type

    def concrete(self, batch: int = 1) -> tuple:
        """The shape with symbolic dimensions filled: the first with `batch`.
        ValueError when another dimension is not fixed."""
        out = []
        for i, d in enumerate(self.shape):
            if isinstance(d, int) and d >= 0:
                out.append(d)
            elif i == 0:
                out.append(batch)
            else:
                raise ValueError(f"input `{self.name}` has a free dimension {d or '?'} at axis {i}; "
                                 f"give its data with --input {self.name}=FILE.npy")
        return tuple(out)


def _io(arg) -> IO:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in (arg.shape or []))
    return IO(arg.name, shape, _ORT_TYPES.get(arg.type, np.float32))


class TooLarge(ValueError):
    """Random inputs that would not fit in memory."""


class Model:
    """An onnxruntime session over one model, with nnd's conveniences."""

    def __init__(self, session, info: SessionInfo, source: str = ""):
        self.session = session
        self.info = info
        self.source = source
        self.inputs = [_io(a) for a in session.get_inputs()]
        self.outputs = [_io(a) for a in session.get_outputs()]
        self.input_high = _input_highs(session)

    @property
    def device(self) -> str:
        return self.info.device

    @property
    def provider(self) -> str:
        return self.info.provider

    def __repr__(self) -> str:
        ins = ", ".join(f"{i.name}{list(i.shape)}" for i in self.inputs)
        outs = ", ".join(f"{o.name}{list(o.shape)}" for o in self.outputs)
        return f"<nnd.Model {self.source or '?'} ({ins}) -> ({outs}) on {self.info.provider}>"

    def feeds(self, *args, **kwargs) -> dict:
        """Normalize what `run` accepts into {input name: array of its dtype}."""
        if len(args) == 1 and isinstance(args[0], dict):
            given = dict(args[0])
        elif len(args) == 1 and isinstance(args[0], (list, tuple)) and args[0] and (
                len(self.inputs) > 1 or all(isinstance(a, np.ndarray) for a in args[0])):
            args = tuple(args[0])
            given = None
        else:
            given = None
        if given is None:
            if len(args) > len(self.inputs):
                raise ValueError(f"the model takes {len(self.inputs)} input(s); got {len(args)} arrays")
            given = {i.name: a for i, a in zip(self.inputs, args)}
        for k, v in kwargs.items():
            if k in given:
                raise ValueError(f"input `{k}` is given twice")
            given[k] = v
        names = [i.name for i in self.inputs]
        unknown = [k for k in given if k not in names]
        if unknown:
            raise ValueError(f"the model has no input `{unknown[0]}`; its inputs: {', '.join(names)}")
        missing = [n for n in names if n not in given]
        if missing:
            raise ValueError(f"input `{missing[0]}` is missing; the model's inputs: {', '.join(names)}")
        out = {}
        for spec in self.inputs:
            a = np.asarray(given[spec.name])
            if a.dtype != spec.dtype:
                a = convert(spec, a)
            check_shape(spec, a.shape)
            out[spec.name] = np.ascontiguousarray(a)
        self._check_symbols(out)
        return out

    def _check_symbols(self, feeds: dict) -> None:
        """A symbolic dimension (N) has one size across all inputs."""
        seen: dict = {}
        for spec in self.inputs:
            for axis, d in enumerate(spec.shape):
                if not isinstance(d, str) or axis >= feeds[spec.name].ndim:
                    continue
                got = feeds[spec.name].shape[axis]
                first = seen.setdefault(d, (spec.name, got))
                if first[1] != got:
                    raise ValueError(f"inputs `{first[0]}` and `{spec.name}` disagree on {d}: "
                                     f"{first[1]} and {got}")

    def run(self, *args, **kwargs) -> dict:
        """Run once; returns {output name: array}, in the model's output order.

        Accepts one array (a one-input model), arrays in input order (as
        arguments or one list), a dict by name, or keyword arguments."""
        feeds = self.feeds(*args, **kwargs)
        values = self.session.run(None, feeds)
        return {o.name: v for o, v in zip(self.outputs, values)}

    __call__ = run

    def random_inputs(self, batch: int = 1, seed: int = 0, limit: int | None = None) -> dict:
        """Random data of the declared shapes (the first free dimension is
        `batch`): standard normal floats; integers in [0, high) where the
        model says its ids index a table of `high` rows (an `Embedding`),
        else in [0, 2); booleans all false (a mask that masks nothing).
        ValueError when they would need more than `limit` bytes (default:
        half this machine's memory)."""
        if batch < 1:
            raise ValueError(f"the batch size must be at least 1; got {batch}")
        shapes = {spec.name: spec.concrete(batch) for spec in self.inputs}
        need = sum(math.prod(shapes[s.name]) * np.dtype(s.dtype).itemsize for s in self.inputs)
        limit = memory_limit() if limit is None else limit
        if need > limit:
            raise TooLarge(f"the random inputs would need {human_bytes(need)} "
                             f"({', '.join(f'{n} {_fmt(s)}' for n, s in shapes.items())}), "
                             f"more than the {human_bytes(limit)} allowed (half this machine's memory)")
        rng = np.random.default_rng(seed)
        out = {}
        for spec in self.inputs:
            shape = shapes[spec.name]
            if np.issubdtype(spec.dtype, np.floating):
                out[spec.name] = rng.standard_normal(shape, dtype=np.float32).astype(spec.dtype, copy=False)
            elif spec.dtype == np.bool_:
                out[spec.name] = np.zeros(shape, dtype=np.bool_)
            else:
                out[spec.name] = rng.integers(0, self.input_high.get(spec.name, 2), shape).astype(spec.dtype)
        return out


def _input_highs(session) -> dict:
    """{integer input: high} from the model's `nnd.input_high` metadata."""
    try:
        text = session.get_modelmeta().custom_metadata_map.get("nnd.input_high", "")
    except Exception:   # a session without metadata
        return {}
    out = {}
    for item in text.split(","):
        name, _, high = item.rpartition("=")
        if name and high.isdigit() and int(high) > 0:
            out[name] = int(high)
    return out


def convert(spec: IO, a: np.ndarray) -> np.ndarray:
    """`a` as the input's dtype, when no value changes: a float or integer
    array for an integer input only if every value is a whole number in the
    type's range, for a bool input only 0s and 1s. ValueError otherwise."""
    want = np.dtype(spec.dtype)
    if want.kind == "f" or a.dtype == np.bool_ or a.size == 0:
        return a.astype(want)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"input `{spec.name}` is {want}; got an array of {a.dtype}")
    if want == np.bool_:
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"input `{spec.name}` is bool; got {a.dtype} values other than 0 and 1")
        return a.astype(want)
    info = np.iinfo(want)
    if a.dtype.kind == "f" and not (np.isfinite(a).all() and (a == np.round(a)).all()):
        raise ValueError(f"input `{spec.name}` is {want}; got {a.dtype} values that are not whole numbers")
    if a.min() < info.min or a.max() > info.max:
        raise ValueError(f"input `{spec.name}` is {want}; got values outside its range "
                         f"({a.min()} .. {a.max()})")
    return a.astype(want)


def check_shape(spec: IO, shape: tuple) -> None:
    if not spec.shape:
        return
    if len(shape) != len(spec.shape):
        raise ValueError(f"input `{spec.name}` must have {len(spec.shape)} dimensions "
                         f"{_fmt(spec.shape)}; got {_fmt(shape)}")
    for i, (want, got) in enumerate(zip(spec.shape, shape)):
        if isinstance(want, int) and want >= 0 and want != got:
            raise ValueError(f"input `{spec.name}` must have shape {_fmt(spec.shape)}; got {_fmt(shape)} "
                             f"(axis {i} is {got}, not {want})")


def memory_limit() -> int:
    """Half the physical memory (8 GiB when it cannot be told)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def human_bytes(n: int) -> str:
    """1234567 -> '1.2 MiB'; 3 significant digits at most."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.0f} {unit}" if n >= 100 else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _fmt(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def load(source, device: str = "auto", *, threads: int | None = None, cache: bool = True,
         verbose: int = 0, model: str | None = None, params: dict | None = None, seed: int = 0,
         weights: str | None = None, allow_outside: bool = False) -> Model:
    """Load a model to run: a `.nnd` file (compiled in memory), an `.onnx`
    file, or what `nnd.compile` returns (a ModelProto, or a LoweredModel).

    device: 'auto' (CUDA when it really works, else CPU), 'cpu' or 'cuda'
    (DeviceError when unavailable). cache: reuse onnxruntime's optimized
    model from an earlier session (see session.py). The other keywords are
    `nnd.compile`'s, for a .nnd source."""
    from ..writer import LoweredModel
    label = ""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        label = path
        if path.endswith(".nnd"):
            from .. import api
            source = api.compile(path, model=model, params=params, seed=seed, weights=weights,
                                 allow_outside=allow_outside, lazy=True)
        else:
            if not os.path.exists(path):
                raise FileNotFoundError(path)
            sess, info = create_session(path, device, threads=threads, cache=cache, verbose=verbose)
            return Model(sess, info, label)
    if isinstance(source, (bytes, bytearray, memoryview)):
        sess, info = create_session(bytes(source), device, threads=threads, cache=cache, verbose=verbose)
        return Model(sess, info, label or "<bytes>")
    lm = source if isinstance(source, LoweredModel) else LoweredModel.from_proto(source)
    label = label or "<model>"
    from ..cachedir import cache_dir
    d = cache_dir("sessions") if cache else None
    if d is None:
        sess, info = create_session(lm.to_bytes(), device, threads=threads, cache=False, verbose=verbose)
        return Model(sess, info, label)
    # Write the model beside the cache, hashing as it goes: onnxruntime reads
    # it from the file and no in-memory copy of the weights is made. The name
    # carries this process's id: if it is killed, a later run deletes the file.
    from ..writer import HashingWriter
    from .cache import temp_prefix
    tmp = None
    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".onnx", dir=d)
            with os.fdopen(fd, "wb") as f:
                w = HashingWriter(f)
                lm.write(w)
        except OSError:   # the cache cannot take it (a full disk): run from memory, uncached
            sess, info = create_session(lm.to_bytes(), device, threads=threads, cache=False, verbose=verbose)
        else:
            del lm, source
            sess, info = create_session(tmp, device, threads=threads, cache=True, verbose=verbose,
                                        digest=w.hexdigest())
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return Model(sess, info, label)
