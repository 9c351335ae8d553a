import os

import pytest

HERE = os.path.dirname(__file__)
LENET = os.path.join(HERE, "..", "..", "examples", "lenet5.nnd")

# Two inputs, a fixed and a symbolic dimension, BatchNorm buffers, int64
# constants (Flatten's shape), and a second output: what the writer and the
# runtime must handle beyond a plain chain.
SMALL = """
model Small {
    input x: [N, 3, 8, 8]
    input z: [N, 4, 8, 8]
    h = x -> Conv2d(4, 3, padding = 1) as conv -> BatchNorm2d as bn -> ReLU
    output y = (h + z) -> Flatten -> Linear(5) as fc
    output s = h -> GlobalAvgPool
}
"""


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every test gets its own cache directory."""
    d = tmp_path / "cache"
    monkeypatch.setenv("NND_CACHE_DIR", str(d))
    return d


@pytest.fixture
def small_nnd(tmp_path):
    p = tmp_path / "small.nnd"
    p.write_text(SMALL)
    return str(p)


@pytest.fixture
def lenet_onnx(tmp_path):
    import nnd
    out = str(tmp_path / "lenet5.onnx")
    nnd.save(nnd.compile(LENET), out)
    return out
