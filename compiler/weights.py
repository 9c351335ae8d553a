"""Parameter tensors: deterministic initialization.

Each tensor gets its own random stream, seeded by the compile seed and the
tensor's full name, so a weight's values do not depend on what else is in the
model or in which order it is built: same source and seed, same bytes.
"""

from __future__ import annotations

import hashlib
import re
import threading

import numpy as np

from .ir import IR, weight_name


_CHUNK = 1 << 18   # values drawn and scaled while they are in cache (1 MiB)


def init_array(seed: int, name: str, w) -> np.ndarray:
    if w.init == "const":
        return np.full(w.shape, w.value, dtype=np.float32)
    if w.init == "values":   # fixed values computed at compile time (an index buffer)
        return np.asarray(w.args, dtype=np.float32).reshape(w.shape)
    rng = _stream(seed, name)
    if w.init != "uniform":
        a = _param_init(rng, w)
        if w.zero_row is not None:
            a[w.zero_row] = 0.0
        return a
    if w.size <= _CHUNK:
        a = rng.random(w.size, dtype=np.float32)
        a *= np.float32(2 * w.bound)
        a -= np.float32(w.bound)
        return a.reshape(w.shape)
    a = np.empty(w.size, dtype=np.float32)
    scale, shift = np.float32(2 * w.bound), np.float32(w.bound)
    # In chunks: the same stream and the same values as one call (the
    # generator keeps its state between calls), about 1.7x faster on large
    # tensors than scaling the whole array in two more passes over memory.
    for i in range(0, w.size, _CHUNK):
        v = a[i:i + _CHUNK]
        rng.random(dtype=np.float32, out=v)
        v *= scale
        v -= shift
    return a.reshape(w.shape)


def _param_init(rng: np.random.Generator, w) -> np.ndarray:
    """The random initializers of `param` (torch.nn.init's normal_, uniform_
    and trunc_normal_ in distribution; the draws are nnd's own stream)."""
    if w.init == "normal":
        mean, std = w.args
        a = rng.standard_normal(w.size, dtype=np.float32)
        return (a * np.float32(std) + np.float32(mean)).reshape(w.shape)
    if w.init == "uniform_range":
        lo, hi = w.args
        a = rng.random(w.size, dtype=np.float32)
        return (a * np.float32(hi - lo) + np.float32(lo)).reshape(w.shape)
    if w.init == "trunc_normal":
        # Rejection: draws outside [a, b] are drawn again, in order. The
        # elaborator asks that [a, b] hold at least 1% of the mass, so a few
        # rounds of oversampling take every value.
        mean, std, lo, hi = w.args
        out = np.empty(0, dtype=np.float64)
        while out.size < w.size:
            need = w.size - out.size
            x = rng.standard_normal(need * 2 + 16) * std + mean
            out = np.concatenate([out, x[(x >= lo) & (x <= hi)][:need]])
        return out.astype(np.float32).reshape(w.shape)
    raise ValueError(f"unknown initialization {w.init!r}")


_local = threading.local()


def _stream(seed: int, name: str) -> np.random.Generator:
    """The tensor's generator: PCG64 started at a 256-bit hash of the seed and
    the name (128 bits of state, 128 of stream increment). One generator per
    thread, re-pointed per tensor: creating one through a SeedSequence costs
    three times as much as drawing a small tensor."""
    g = getattr(_local, "generator", None)
    if g is None:
        g = _local.generator = np.random.Generator(np.random.PCG64())
    digest = hashlib.blake2b(f"{seed}\0{name}".encode(), digest_size=32).digest()
    g.bit_generator.state = {"bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
                             "state": {"state": int.from_bytes(digest[:16], "little"),
                                       "inc": int.from_bytes(digest[16:], "little") | 1}}
    return g


_PARALLEL = 1 << 22          # values in large tensors: above this, two threads draw them
_PARALLEL_TENSOR = 1 << 16   # a tensor this large or larger counts as large


def materialize(ir: IR, seed: int = 0) -> None:
    """Give every node's weights arrays (`node['arrays']`), keeping any already bound."""
    # Small tensors at once, large ones afterwards on two threads: numpy
    # draws and scales without the GIL, so a second thread halves the time
    # on two free cores, but only for tensors large enough to outweigh the
    # handing over. Each tensor has its own stream: values do not depend on
    # who draws them, or when.
    todo = []
    users: dict = {}   # a shared weight: its other uses get the first's array
    for n, data in ir.g.nodes(data=True):
        specs = data["attrs"].get("weights") or {}
        arrays = data.setdefault("arrays", {})
        for pname, w in specs.items():
            if pname in arrays:
                continue
            name = weight_name(data, pname, w)
            if w.shared:
                users.setdefault(name, []).append((arrays, pname))
                if len(users[name]) > 1:
                    continue
            if w.size < _PARALLEL_TENSOR:
                arrays[pname] = init_array(seed, name, w)
            else:
                todo.append((arrays, pname, name, w))
    if sum(w.size for *_, w in todo) < _PARALLEL:
        for arrays, pname, name, w in todo:
            arrays[pname] = init_array(seed, name, w)
    else:
        _draw_large(todo, seed)
    for uses in users.values():
        first, pname = uses[0]
        for arrays, p in uses[1:]:
            arrays[p] = first[pname]


def _draw_large(todo: list, seed: int) -> None:
    import threading
    todo.sort(key=lambda t: -t[3].size)
    lock = threading.Lock()
    errors: list = []

    def work():
        while True:
            with lock:
                if not todo or errors:
                    return
                arrays, pname, name, w = todo.pop(0)
            try:
                arrays[pname] = init_array(seed, name, w)
            except BaseException as e:   # re-raised in the caller
                errors.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    work()
    t.join()
    if errors:
        raise errors[0]


def parameter_count(ir: IR, include_buffers: bool = False) -> int:
    """Trained values (and buffers if asked): a shared weight counts once."""
    return sum(w.size for _, _, w in ir.parameters().values() if include_buffers or not w.buffer)


# ------------------------------------------------------------------ size limit

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)\s*$")


def parse_size(text) -> int:
    """Bytes from `16GiB`, `100GB`, `512MB`, `1e9` or an int (decimal units:
    GB = 10**9; binary: GiB = 2**30). ValueError on anything else."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"a size cannot be negative: {text}")
        return text
    m = _SIZE.match(str(text).lower())
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"not a size: {text!r} (expected e.g. 16GiB, 100GB or 512MB)")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def check_size(ir: IR, limit) -> None:
    """Refuse, from the declared shapes alone (nothing is allocated), a model
    whose float32 weights would take more than `limit` bytes (None: no limit)."""
    if limit is None:
        return
    limit = parse_size(limit)
    tensors = [(full, w) for full, (_, _, w) in ir.parameters().items()]
    total = 4 * sum(w.size for _, w in tensors)
    if total <= limit:
        return
    from .diagnostics import WeightError
    from .shape_help import _bytes
    biggest = sorted(tensors, key=lambda t: -t[1].size)[:5]
    width = max(len(n) for n, _ in biggest)
    lines = [f"model `{ir.name}` declares {_bytes(total)} of weights ({total // 4:,} float32 values), "
             f"more than the limit of {_bytes(limit)}; nothing was allocated"]
    lines += [f"  largest      {n:{width}}  [{', '.join(map(str, w.shape))}]  {_bytes(4 * w.size)}"
              for n, w in biggest]
    need = -(-total // 2**30) if total >= 2**30 else -(-total // 2**20)
    unit = "GiB" if total >= 2**30 else "MiB"
    lines.append(f"  = help: if the model is meant to be this large, raise the limit: "
                 f"--max-weights-size {need}{unit} (nnd.compile(..., max_weights_size=\"{need}{unit}\"))")
    raise WeightError("\n".join(lines))
