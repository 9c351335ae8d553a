"""The cache of onnxruntime's optimized models, `<cache>/sessions`.

A cache problem must make a run uncached, never wrong, so:

* Keys cover the model's content: the sha256 of its bytes and of every
  external data file it names. The hashes are remembered in `digests.json`
  by (path, size, mtime, inode, ctime): a file copied over the model with its
  old mtime (`cp -p`, `rsync -t`, a tar's fixed dates) still gets a new inode
  or ctime and is hashed again.
* An entry is `<key>.onnx` (the optimized model), `<key>.data` (its weights)
  and, written last, `<key>.json`: what the key covers and the sha256 and
  size of the two files. Both are checked before every use, through hard
  links that pin what was checked for the load; on any mismatch or read
  error the entry is deleted and the model is optimized again.
* A damaged `digests.json` or `<key>.json` (not JSON, not an object) counts
  as empty.
* Temporaries are named `.tmp.<host>.<pid>.*`: a later run deletes those of
  processes of this host that are gone (killed runs), and those of other
  hosts after a day. While they exist they count towards the size limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import stat
import tempfile
import time

from ..writer import pid_alive

CACHE_LIMIT = 4 << 30   # bytes kept (entries and temporaries); the least recently used entries go first
FORMAT = 2              # of keys and entries; 2: keys cover external data, entries carry their digests
INDEX = "digests.json"
STALE_S = 24 * 3600     # temporaries whose writer cannot be checked (another host, older nnd) go after this
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname() or "host")[:40] or "host"
_TEMP = re.compile(r"^\.tmp\.([A-Za-z0-9_]+)\.(\d+)\.")
_LEGACY = re.compile(r"^\.(model-.*\.onnx|[0-9a-f]{12}-.*)$")   # older nnd's temporaries, without a pid
_KEY = re.compile(r"^([0-9a-f]{64})\.(onnx|data|json)$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def temp_prefix(pid: int | None = None) -> str:
    """The name prefix of a temporary written by process `pid` (this one)."""
    return f".tmp.{_HOST}.{os.getpid() if pid is None else pid}."


def machine() -> str:
    """What the optimized graph may depend on: the CPU and its features."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features")):
                    cpu += line.strip()
                    if line.startswith(("flags", "Features")):
                        break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()} {hashlib.sha256(cpu.encode()).hexdigest()[:16]}"


def cache_key(model_digest: str, provider: str, level: str, ort_version: str) -> tuple[str, dict]:
    fields = {"model_sha256": model_digest, "provider": provider, "onnxruntime": ort_version,
              "optimization": level, "machine": machine(), "format": FORMAT}
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return key, fields


# ---------------------------------------------------------------- digests

def _read_json(path: str) -> dict:
    """A JSON object from `path`; {} when missing, unreadable or anything but an object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _ident(path: str, st: os.stat_result) -> str:
    return f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}"


def _hash(path: str, scan: bool = False) -> tuple[str, os.stat_result, bool]:
    """sha256 of a regular file, its stat taken before reading, and (with
    `scan`) whether the bytes `location` occur: an ONNX model names its
    external data files under that key, so without them it has none."""
    h, found, tail = hashlib.sha256(), False, b""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path}: not a regular file")
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
            if scan and not found:
                found = b"location" in tail + chunk[:8] or b"location" in chunk
                tail = chunk[-8:]
    return h.hexdigest(), st, found


def _external_files(path: str) -> list[str]:
    """The external data files a model names, as written in it."""
    try:
        import onnx
        from onnx.external_data_helper import _get_all_tensors
        m = onnx.load(path, load_external_data=False)
        tensors = list(_get_all_tensors(m))
    except Exception:   # noqa: BLE001 - not a model onnxruntime can load either; it will say so
        return []
    return sorted({e.value for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL
                   for e in t.external_data if e.key == "location"})


def _record(path: str, known: dict, scan: bool) -> tuple[dict, bool]:
    """{'sha256', 'external'} for a file, from `known` while its identity is
    unchanged; the bool says whether it was computed now."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):   # a named pipe would block the read
        raise OSError(f"{path}: not a regular file")
    ident = _ident(path, st)
    rec = known.get(ident)
    if (isinstance(rec, dict) and isinstance(rec.get("sha256"), str) and _HEX.match(rec["sha256"])
            and isinstance(rec.get("external"), list) and all(isinstance(x, str) for x in rec["external"])):
        return rec, False
    digest, st, found = _hash(path, scan)
    rec = {"sha256": digest, "external": _external_files(path) if found else []}
    ident = _ident(path, st)
    known.pop(ident, None)   # re-inserted last: the newest for its path
    known[ident] = rec
    return rec, True


def model_digest(path: str, cdir: str | None = None) -> str:
    """The content hash of a model file and its external data: the sha256 of
    the file when it has none. Remembered in `cdir`/digests.json. OSError
    when a file cannot be read."""
    index = os.path.join(cdir, INDEX) if cdir else None
    known = _read_json(index) if index else {}
    rec, changed = _record(path, known, scan=True)
    digest = rec["sha256"]
    if rec["external"]:
        base = os.path.dirname(os.path.abspath(path))
        parts = {}
        for loc in rec["external"]:
            r, c = _record(os.path.join(base, loc), known, scan=False)
            parts[loc] = r["sha256"]
            changed = changed or c
        digest = hashlib.sha256(json.dumps({"model": digest, "external": parts}, sort_keys=True)
                                .encode()).hexdigest()
    if index and changed:
        # one identity per path: the newest
        latest: dict = {}
        for ident, r in known.items():
            latest[ident.rsplit("|", 4)[0]] = (ident, r)
        known = dict(list(latest.values())[-1000:])
        write_atomic(index, json.dumps(known).encode())
    return digest


def write_atomic(path: str, data: bytes) -> None:
    """Best effort: a cache that cannot be written is only slower."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), suffix=".tmp", dir=os.path.dirname(path))
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# ---------------------------------------------------------------- entries

def entry(d: str, key: str) -> tuple[str, str, str]:
    """The optimized model, its data file and its description."""
    return tuple(os.path.join(d, key + ext) for ext in (".onnx", ".data", ".json"))


def _file_facts(path: str) -> dict:
    return {"size": os.path.getsize(path), "sha256": _hash(path)[0]}


def verified(d: str, key: str, fields: dict, files_in: str | None = None) -> bool:
    """Whether the entry is complete and its files (in `files_in`, by default
    `d`) are what was written."""
    opt, data, meta = entry(files_in or d, key)
    m = _read_json(entry(d, key)[2])
    files = m.get("files")
    if any(m.get(k) != v for k, v in fields.items()) or not isinstance(files, dict):
        return False
    for name, path in (("onnx", opt), ("data", data)):
        want = files.get(name)
        if want is None and name == "data":
            continue
        try:
            if not isinstance(want, dict) or os.path.getsize(path) != want.get("size") \
                    or _hash(path)[0] != want.get("sha256"):
                return False
        except OSError:
            return False
    return True


@contextlib.contextmanager
def checked(d: str, key: str, fields: dict):
    """The path of the entry's optimized model, verified, to load within the
    block; None when the entry does not check. The files are hard-linked into
    a private directory first and those links are checked and loaded: an
    entry that another process replaces meanwhile cannot mix into the load.
    (Where links cannot be made, the entry is checked and loaded in place.)"""
    opt, data, _ = entry(d, key)
    pin = None
    try:
        pin = tempfile.mkdtemp(prefix=temp_prefix(), dir=d)
        for p in (opt, data):
            if os.path.exists(p):
                os.link(p, os.path.join(pin, os.path.basename(p)))
    except OSError:
        if pin:
            shutil.rmtree(pin, ignore_errors=True)
        pin = None
    try:
        yield entry(pin or d, key)[0] if verified(d, key, fields, pin) else None
    finally:
        if pin:
            shutil.rmtree(pin, ignore_errors=True)


def discard(d: str, key: str) -> None:
    for p in entry(d, key):
        with contextlib.suppress(OSError):
            os.unlink(p)


def commit(d: str, key: str, work: str, fields: dict) -> None:
    """Move an optimized model written in `work` into place. The model names
    its data file by a relative name, so both move together, the data first;
    the description, last, marks the entry complete. OSError on failure."""
    opt, data, meta = entry(d, key)
    wopt, wdata = os.path.join(work, os.path.basename(opt)), os.path.join(work, os.path.basename(data))
    files = {"onnx": _file_facts(wopt), "data": _file_facts(wdata) if os.path.exists(wdata) else None}
    if files["data"] is not None:
        os.replace(wdata, data)
    os.replace(wopt, opt)
    desc = dict(fields, files=files, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_atomic(meta, json.dumps(desc, indent=1).encode())
    if not os.path.exists(meta):
        raise OSError(f"cannot write {meta}")


def touch(d: str, key: str) -> None:
    """Mark an entry used (the size limit drops the least recently used)."""
    with contextlib.suppress(OSError):
        os.utime(entry(d, key)[2])


# ---------------------------------------------------------------- temporaries and size

def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _stale(name: str, path: str, now: float) -> bool:
    """A temporary whose writer is gone: a dead pid of this host, or (the
    pid reused, another host, an older nnd without pids) a day old: no run
    keeps a temporary that long."""
    m = _TEMP.match(name)
    if not m and not _LEGACY.match(name):
        return False
    if m and m.group(1) == _HOST and not pid_alive(int(m.group(2))):
        return True
    try:
        return now - os.lstat(path).st_mtime > STALE_S
    except OSError:
        return False


def sweep(d: str) -> None:
    """Delete the temporaries of runs that are gone."""
    now = time.time()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for name in names:
        if name.startswith(".") and _stale(name, os.path.join(d, name), now):
            _remove(os.path.join(d, name))


def _tree_size(path: str) -> int:
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, f)).st_size
    return total


def prune(d: str, limit: int | None = None) -> None:
    """Drop the least recently used entries beyond `limit` bytes; the
    temporaries there (live runs' models and work directories) count first.
    Files of an incomplete entry count as an entry of their own age."""
    limit = CACHE_LIMIT if limit is None else limit
    try:
        names = os.listdir(d)
    except OSError:
        return
    total, groups = 0, {}
    for name in names:
        p = os.path.join(d, name)
        m = _KEY.match(name)
        if m:
            try:
                st = os.stat(p)
            except OSError:
                continue
            g = groups.setdefault(m.group(1), [0.0, 0])
            g[0], g[1] = max(g[0], st.st_mtime), g[1] + st.st_size
        elif name.startswith(".") and (_TEMP.match(name) or _LEGACY.match(name)):
            total += _tree_size(p)
    for key, (_, size) in sorted(groups.items(), key=lambda kv: kv[1][0], reverse=True):
        total += size
        if total > limit:
            discard(d, key)
