"""Parameter tensors: deterministic initialization.

Each tensor gets its own random stream, seeded by the compile seed and the
tensor's full name, so a weight's values do not depend on what else is in the
model or in which order it is built: same source and seed, same bytes.
"""

from __future__ import annotations

import zlib

import numpy as np

from .ir import IR


def init_array(seed: int, name: str, w) -> np.ndarray:
    if w.init == "const":
        return np.full(w.shape, w.value, dtype=np.float32)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(name.encode())])
    a = rng.random(w.size, dtype=np.float32)
    a *= np.float32(2 * w.bound)
    a -= np.float32(w.bound)
    return a.reshape(w.shape)


def materialize(ir: IR, seed: int = 0) -> None:
    """Give every node's weights arrays (`node['arrays']`), keeping any already bound."""
    for n, data in ir.g.nodes(data=True):
        specs = data["attrs"].get("weights") or {}
        arrays = data.setdefault("arrays", {})
        for pname, w in specs.items():
            if pname not in arrays:
                arrays[pname] = init_array(seed, f"{data['name']}.{pname}", w)


def parameter_count(ir: IR, include_buffers: bool = False) -> int:
    total = 0
    for _, data in ir.g.nodes(data=True):
        for w in (data["attrs"].get("weights") or {}).values():
            if include_buffers or not w.buffer:
                total += w.size
    return total
