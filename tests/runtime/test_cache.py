"""The session cache: keyed on content, verified before use, temporaries swept."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import nnd
from nnd.cli import main
from nnd.runtime import session as S

from conftest import LENET

X = np.random.default_rng(3).standard_normal((2, 1, 32, 32)).astype(np.float32)


def _uncached(path):
    return nnd.load(path, device="cpu", cache=False).run(X)["probs"]


def _sessions(cache):
    return str(cache / "sessions")


@pytest.fixture
def two_lenets(tmp_path):
    """Two LeNets of the same size with different weights."""
    a, b = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    nnd.save(nnd.compile(LENET, seed=0), a)
    nnd.save(nnd.compile(LENET, seed=1), b)
    assert os.path.getsize(a) == os.path.getsize(b)
    return a, b


@pytest.mark.parametrize("how", ["rsync -t", "cp -p"])
def test_same_size_and_mtime_is_still_a_new_model(two_lenets, tmp_path, how):
    a, b = two_lenets
    p = str(tmp_path / "m.onnx")
    shutil.copy2(a, p)
    first = nnd.load(p, device="cpu")
    np.testing.assert_array_equal(first.run(X)["probs"], _uncached(a))
    st = os.stat(p)
    if how == "rsync -t":   # written beside, the old mtime set, renamed over
        tmp = str(tmp_path / "m.tmp")
        shutil.copyfile(b, tmp)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, p)
    else:                   # rewritten in place, the old mtime set
        time.sleep(0.05)
        shutil.copyfile(b, p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_size == st.st_size and os.stat(p).st_mtime_ns == st.st_mtime_ns
    second = nnd.load(p, device="cpu")
    assert not second.info.cached
    np.testing.assert_array_equal(second.run(X)["probs"], _uncached(b))


@pytest.mark.parametrize("ext", [".data", ".onnx"])
def test_a_flipped_byte_in_the_cache_is_detected(lenet_onnx, ext):
    m1 = nnd.load(lenet_onnx, device="cpu")
    path = m1.info.cache_path[:-5] + ext
    assert os.path.exists(path)
    st = os.stat(path)
    with open(path, "r+b") as f:
        f.seek(st.st_size // 2)
        b = f.read(1)
        f.seek(st.st_size // 2)
        f.write(bytes([b[0] ^ 0x40]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    m2 = nnd.load(lenet_onnx, device="cpu")
    assert not m2.info.cached
    np.testing.assert_array_equal(m2.run(X)["probs"], _uncached(lenet_onnx))
    m3 = nnd.load(lenet_onnx, device="cpu")   # the entry was rebuilt
    assert m3.info.cached
    np.testing.assert_array_equal(m3.run(X)["probs"], _uncached(lenet_onnx))


@pytest.mark.parametrize("meta", [b"[]", b"null", b"{", b'{"files": 3}'])
def test_a_damaged_entry_description_is_rebuilt(lenet_onnx, meta):
    _, i1 = S.create_session(lenet_onnx, "cpu")
    with open(i1.cache_path[:-5] + ".json", "wb") as f:
        f.write(meta)
    _, i2 = S.create_session(lenet_onnx, "cpu")
    assert not i2.cached
    _, i3 = S.create_session(lenet_onnx, "cpu")
    assert i3.cached


def test_external_data_is_part_of_the_key(tmp_path):
    """A model whose weights are in its .data file: new weights, same .onnx."""
    p = str(tmp_path / "ext.onnx")
    written = nnd.save(nnd.compile(LENET), p, external_threshold=0)
    assert len(written) == 2 and written[1].endswith(".data")
    data = written[1]
    first = nnd.load(p, device="cpu")
    y1 = first.run(X)["probs"]
    np.testing.assert_array_equal(y1, _uncached(p))
    del first
    # new weights of the same size, the .onnx file untouched
    w = np.fromfile(data, dtype=np.float32)
    (w * 2).tofile(p + ".new")
    os.replace(p + ".new", data)
    second = nnd.load(p, device="cpu")
    assert not second.info.cached
    np.testing.assert_array_equal(second.run(X)["probs"], _uncached(p))
    assert not np.array_equal(second.run(X)["probs"], y1)


@pytest.mark.parametrize("index", [b"[]", b"null", b"7", b"garbage", b'{"k": 5}'])
def test_a_damaged_digest_index_is_treated_as_empty(lenet_onnx, _cache, index, capsys):
    os.makedirs(_sessions(_cache), exist_ok=True)
    with open(os.path.join(_sessions(_cache), "digests.json"), "wb") as f:
        f.write(index)
    assert main(["run", lenet_onnx, "--device", "cpu"]) == 0
    assert main(["run", lenet_onnx, "--device", "cpu"]) == 0
    assert "(cached)" in capsys.readouterr().out


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_load_writes_its_temporary_under_its_pid(monkeypatch):
    from nnd.runtime import model as M
    seen = []
    real = M.create_session

    def spy(model, *a, **k):
        seen.append(model)
        return real(model, *a, **k)
    monkeypatch.setattr(M, "create_session", spy)
    nnd.load(LENET, device="cpu")
    assert len(seen) == 1 and isinstance(seen[0], str)
    assert f".{os.getpid()}." in os.path.basename(seen[0])
    assert not os.path.exists(seen[0])


def test_temporaries_of_dead_processes_are_swept(lenet_onnx, _cache):
    from nnd.runtime import cache as C
    d = _sessions(_cache)
    os.makedirs(d, exist_ok=True)
    dead, live = _dead_pid(), os.getpid()
    dead_file = os.path.join(d, f"{C.temp_prefix(dead)}abc.onnx")
    dead_dir = os.path.join(d, f"{C.temp_prefix(dead)}xyz")
    live_file = os.path.join(d, f"{C.temp_prefix(live)}abc.onnx")
    for p in (dead_file, live_file):
        with open(p, "wb") as f:
            f.write(b"x" * 1000)
    os.mkdir(dead_dir)
    with open(os.path.join(dead_dir, "m.onnx"), "wb") as f:
        f.write(b"x" * 1000)
    old = os.path.join(d, f"{C.temp_prefix(live)}old.onnx")   # a reused pid: the age rule
    legacy = os.path.join(d, ".model-abc123.onnx")               # an older nnd's, without a pid
    for p in (old, legacy):
        with open(p, "wb") as f:
            f.write(b"x")
        os.utime(p, (time.time() - 2 * C.STALE_S,) * 2)
    S.create_session(lenet_onnx, "cpu")
    assert not os.path.exists(dead_file) and not os.path.exists(dead_dir)
    assert not os.path.exists(old) and not os.path.exists(legacy)
    assert os.path.exists(live_file)


def test_a_temporary_named_with_an_impossible_pid_is_left_to_the_age_rule(lenet_onnx, _cache):
    # a pid too large for the OS (a copied-in or hand-made name) is "unsure", not a crash
    from nnd.runtime import cache as C
    d = _sessions(_cache)
    os.makedirs(d, exist_ok=True)
    young = os.path.join(d, f"{C.temp_prefix(10 ** 30)}young.onnx")
    old = os.path.join(d, f"{C.temp_prefix(10 ** 30)}old.onnx")
    for p in (young, old):
        with open(p, "wb") as f:
            f.write(b"x")
    os.utime(old, (time.time() - 2 * C.STALE_S,) * 2)
    S.create_session(lenet_onnx, "cpu")
    assert os.path.exists(young) and not os.path.exists(old)


def test_the_size_limit_counts_temporaries(lenet_onnx, two_lenets, _cache, monkeypatch):
    from nnd.runtime import cache as C
    a, b = two_lenets
    _, ia = S.create_session(a, "cpu")
    d = _sessions(_cache)
    entry = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d) if n.startswith(ia.key))
    monkeypatch.setattr(C, "CACHE_LIMIT", 3 * entry)
    with open(os.path.join(d, f"{C.temp_prefix(os.getpid())}big.onnx"), "wb") as f:
        f.write(b"x" * (2 * entry))   # a live run's temporary
    S.create_session(b, "cpu")
    assert not os.path.exists(ia.cache_path), "the oldest entry goes: temporaries count"


def test_a_failed_run_leaves_no_work_directory(tmp_path, _cache, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    assert main(["run", str(bad), "--device", "cpu"]) == 1
    assert main(["run", str(bad), "--device", "cpu"]) == 1
    d = _sessions(_cache)
    assert [n for n in os.listdir(d) if n.startswith(".")] == []


def test_an_unchanged_model_is_hashed_once(lenet_onnx, monkeypatch):
    from nnd.runtime import cache as C
    hashed = []
    real = C._hash

    def spy(path, *a, **k):
        hashed.append(os.path.realpath(path))
        return real(path, *a, **k)
    monkeypatch.setattr(C, "_hash", spy)
    S.create_session(lenet_onnx, "cpu")
    _, info = S.create_session(lenet_onnx, "cpu")
    assert info.cached
    assert hashed.count(os.path.realpath(lenet_onnx)) == 1
    os.utime(lenet_onnx)   # touched: its identity changed, so it is hashed again (same key)
    _, again = S.create_session(lenet_onnx, "cpu")
    assert again.cached and again.key == info.key
    assert hashed.count(os.path.realpath(lenet_onnx)) == 2
