"""Random initialization (compiler/weights.py): one stream per tensor, from
the seed and the tensor's name only."""

from __future__ import annotations

import numpy as np
import pytest

import nnd.weights
from nnd import api, cli
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


# ------------------------------------------------------------------ size limit

# 40 layers of 20,000 x 20,000 float32 weights, each under the one-layer limit
# (2 GiB): 59.6 GiB in all, over the default 16 GiB.
HUGE = """model Huge {
    input x: [N, 20000]
    output y = x -> (Linear(20000) * 40) as body -> Linear(10) as head
}
"""

# 1,024 x 1,024 + 1,024 float32 values: 4.0 MiB.
MODEST = """model Modest {
    input x: [N, 1024]
    output y = x -> Linear(1024) as fc
}
"""


@pytest.fixture
def no_allocation(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("weights were materialized")
    monkeypatch.setattr(nnd.weights, "init_array", refuse)


def test_a_model_over_the_default_limit_fails_before_allocating(no_allocation):
    with pytest.raises(api.WeightError) as e:
        api.compile(text=HUGE)
    assert str(e.value).splitlines() == [
        "model `Huge` declares 59.6 GiB of weights (16,001,000,010 float32 values), more than the limit "
        "of 16.0 GiB; nothing was allocated",
        "  largest      body.0.weight  [20000, 20000]  1.5 GiB",
        "  largest      body.1.weight  [20000, 20000]  1.5 GiB",
        "  largest      body.2.weight  [20000, 20000]  1.5 GiB",
        "  largest      body.3.weight  [20000, 20000]  1.5 GiB",
        "  largest      body.4.weight  [20000, 20000]  1.5 GiB",
        "  = help: if the model is meant to be this large, raise the limit: --max-weights-size 60GiB "
        '(nnd.compile(..., max_weights_size="60GiB"))']


def test_a_lower_limit_refuses_a_modest_model(no_allocation):
    with pytest.raises(api.WeightError, match=r"^model `Modest` declares 4\.0 MiB of weights .* "
                                              r"the limit of 3\.0 MiB;(.|\n)* --max-weights-size 5MiB "):
        api.build(text=MODEST, max_weights_size="3MiB")
    with pytest.raises(api.WeightError, match="the limit of 1000 bytes"):
        api.build(text=MODEST, max_weights_size=1000)


def test_raising_the_limit_lets_a_model_through():
    ir, _ = build(text=MODEST, max_weights_size="5MiB", optimize=False)
    assert ir.node(ir.order()[-1])["arrays"]["weight"].shape == (1024, 1024)
    ir, _ = build(text=MODEST, max_weights_size=None, optimize=False)   # no limit
    assert ir.node(ir.order()[-1])["arrays"]["bias"].shape == (1024,)


def test_cli_max_weights_size(tmp_path, capsys):
    src = tmp_path / "modest.nnd"
    src.write_text(MODEST)
    out = tmp_path / "modest.onnx"
    assert cli.main(["compile", str(src), "-o", str(out), "--max-weights-size", "1MB"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nndc: error: model `Modest` declares 4.0 MiB of weights (1,049,600 float32 values), "
                          "more than the limit of 976.6 KiB; nothing was allocated\n"
                          "  largest      fc.weight  [1024, 1024]  4.0 MiB\n")
    assert "--max-weights-size 5MiB" in err and not out.exists()
    assert cli.main(["compile", str(src), "-o", str(out), "--max-weights-size", "4.1MiB"]) == 0
    assert out.exists()
    with pytest.raises(SystemExit) as e:
        cli.main(["compile", str(src), "--max-weights-size", "lots"])
    assert e.value.code == 2
    assert "not a size: 'lots' (expected e.g. 16GiB, 100GB or 512MB)" in capsys.readouterr().err
