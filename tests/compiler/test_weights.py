"""Random initialization (compiler/weights.py): one stream per tensor, from
the seed and the tensor's name only."""

from __future__ import annotations

import numpy as np

from nnd.api import build

SRC = """model M {
    input x: [1, 3, 8, 8]
    a = x -> Conv2d(4, 3) as first
    output y = a -> Conv2d(4, 3) as second
}
"""

ALONE = """model M {
    input x: [1, 3, 8, 8]
    output y = x -> Conv2d(4, 3) as first
}
"""


def _arrays(text, seed):
    ir, _ = build(text=text, seed=seed, optimize=False)
    return {f"{d['name']}.{k}": v for _, d in ir.g.nodes(data=True) for k, v in (d.get("arrays") or {}).items()}


def test_same_seed_same_values_and_within_bounds():
    a, b = _arrays(SRC, 7), _arrays(SRC, 7)
    assert a.keys() == b.keys() == {"first.weight", "first.bias", "second.weight", "second.bias"}
    for k in a:
        assert np.array_equal(a[k], b[k])
        assert a[k].dtype == np.float32
    bound = 1 / np.sqrt(3 * 3 * 3)
    assert 0.8 * bound < np.abs(a["first.weight"]).max() <= bound


def test_every_tensor_has_its_own_stream():
    a = _arrays(SRC, 0)
    # One stream for two tensors would give the same values up to each one's
    # bound (1 / sqrt(fan_in): 27 and 36 inputs): compare them scaled.
    first = a["first.weight"].reshape(-1)[:100] * np.sqrt(27)
    second = a["second.weight"].reshape(-1)[:100] * np.sqrt(36)
    assert not np.allclose(first, second, atol=1e-3)
    assert not np.allclose(a["first.bias"] * np.sqrt(27), a["second.bias"] * np.sqrt(36), atol=1e-3)


def test_values_do_not_depend_on_the_rest_of_the_model():
    assert np.array_equal(_arrays(SRC, 3)["first.weight"], _arrays(ALONE, 3)["first.weight"])


def test_the_whole_seed_counts():
    # Seeds that agree in their low 32 bits are different seeds.
    assert not np.array_equal(_arrays(ALONE, 1)["first.weight"], _arrays(ALONE, 1 + 2**32)["first.weight"])
    assert not np.array_equal(_arrays(ALONE, 0)["first.weight"], _arrays(ALONE, 1)["first.weight"])
