"""onnxruntime sessions: which provider, quiet logs, and a cache of optimized models.

Device choice:
  * `cpu`  the CPU provider.
  * `cuda` the CUDA provider, or `DeviceError` (one line saying why) when it
           cannot really be created here.
  * `auto` CUDA when it can really be created (the provider is built in, a
           driver loads, a GPU is visible and a session on it comes up),
           otherwise the CPU, quietly.

onnxruntime logs to the terminal on its own (a failed CUDA provider prints
two coloured lines even when the CPU takes over). Its default logger is set
to fatal-only unless the caller asks for `verbose`.

Cache: graph optimization of a large model takes a while on every session
creation, and so does parsing a large protobuf. The first session saves
onnxruntime's optimized model under `<cache>/sessions/<key>.onnx`, its
weights in `<key>.data` beside it (external data, which onnxruntime maps
from the file instead of parsing: VGG-16's session comes up about 4x faster),
and `<key>.json` naming what the key covers: the model's content hash, the
provider, the onnxruntime version, the optimization level and the machine
(the optimized graph can be specific to the CPU's instruction set). A later
session with the same key checks the entry's files against their recorded
digests and loads the model with optimizations off. How entries are keyed,
verified and cleaned up: cache.py.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from . import cache as store

DEVICES = ("auto", "cpu", "cuda")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class DeviceError(Exception):
    """The requested device cannot be used here."""


@dataclass
class SessionInfo:
    device: str              # 'cpu' | 'cuda'
    provider: str            # what the session really runs on
    seconds: float           # session creation, wall clock
    cached: bool             # loaded from the cache of optimized models
    cache_path: str | None   # the optimized model file, when caching
    key: str | None          # the cache key (sha256 hex)


def ort_module(verbose: int = 0):
    """Import onnxruntime with its default logger set for this verbosity:
    0 fatal only, 1 warnings and errors, 2 everything."""
    import onnxruntime as ort
    ort.set_default_logger_severity({0: 4, 1: 2}.get(verbose, 0))
    return ort


def _severity(verbose: int) -> int:
    return {0: 4, 1: 2}.get(verbose, 0)


@contextlib.contextmanager
def _stderr_silenced(enabled: bool = True):
    """Send file descriptor 2 to /dev/null (native libraries write there directly)."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _gpu_count() -> int | None:
    """Visible CUDA devices per the driver API; None when no driver loads."""
    import ctypes
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        return None
    try:
        if lib.cuInit(0) != 0:
            return 0
        n = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(n)) != 0:
            return 0
        return n.value
    except AttributeError:
        return None


def _probe_model() -> bytes:
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


@functools.lru_cache(maxsize=None)
def cuda_unavailable(verbose: int = 0) -> str | None:
    """None when a CUDA session can really be created, else why not (one line)."""
    ort = ort_module(verbose)
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this onnxruntime has no CUDA provider (it is the CPU-only build)"
    n = _gpu_count()
    if n is None:
        return "no NVIDIA driver is installed (libcuda.so.1 does not load)"
    if n == 0:
        return "no CUDA GPU is visible"
    so = ort.SessionOptions()
    so.log_severity_level = _severity(verbose)
    try:
        with _stderr_silenced(not verbose):
            s = ort.InferenceSession(_probe_model(), so, providers=["CUDAExecutionProvider"])
    except Exception as e:   # noqa: BLE001 - any failure means "not usable"
        return f"the CUDA provider failed to start: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    if "CUDAExecutionProvider" not in s.get_providers():
        return ("the CUDA provider could not be created (its libraries, CUDA and cuDNN, are missing or "
                "do not match; run with -v for onnxruntime's message)")
    return None


def resolve_device(device: str = "auto", verbose: int = 0) -> str:
    """'auto' | 'cpu' | 'cuda' -> 'cpu' or 'cuda'; DeviceError for an unusable 'cuda'."""
    if device not in DEVICES:
        raise DeviceError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    why = cuda_unavailable(verbose)
    if why is None:
        return "cuda"
    if device == "cuda":
        raise DeviceError(f"CUDA is not available: {why}")
    return "cpu"


# ---------------------------------------------------------------- sessions

def session_options(ort, threads: int | None = None, verbose: int = 0):
    so = ort.SessionOptions()
    so.log_severity_level = _severity(verbose)
    if threads:
        so.intra_op_num_threads = threads
    return so


def create_session(model, device: str = "auto", *, threads: int | None = None, cache: bool = True,
                   verbose: int = 0, digest: str | None = None):
    """An onnxruntime InferenceSession and a SessionInfo.

    `model`: a path to an .onnx file, or the serialized model (bytes).
    `digest`: the model's sha256 when the caller already knows it."""
    ort = ort_module(verbose)
    dev = resolve_device(device, verbose)
    provider = PROVIDERS[dev]
    providers = [provider] if dev == "cpu" else [provider, "CPUExecutionProvider"]
    level = "all"
    start = time.perf_counter()
    cdir = None
    if cache:
        from ..cachedir import cache_dir
        cdir = cache_dir("sessions")
    if cdir is None:
        return _uncached(ort, model, dev, providers, threads, verbose, start)
    store.sweep(cdir)
    try:
        if digest is None:
            digest = (store.model_digest(model, cdir) if isinstance(model, str)
                      else hashlib.sha256(model).hexdigest())
    except OSError:   # the model cannot be read: onnxruntime, uncached, says why
        digest = None
    if digest is None:
        return _uncached(ort, model, dev, providers, threads, verbose, start)
    key, fields = store.cache_key(digest, provider, level, ort.__version__)
    opt, data, meta = store.entry(cdir, key)
    if os.path.exists(meta) or os.path.exists(opt):
        with store.checked(cdir, key, fields) as path:
            if path:
                so = session_options(ort, threads, verbose)
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
                try:
                    sess = _session(ort, path, so, providers, verbose)
                    store.touch(cdir, key)
                    return sess, SessionInfo(dev, sess.get_providers()[0], time.perf_counter() - start,
                                             True, opt, key)
                except Exception:   # noqa: BLE001 - onnxruntime refuses the entry: drop it, optimize again
                    pass
        store.discard(cdir, key)
    try:
        work = tempfile.mkdtemp(prefix=store.temp_prefix(), dir=cdir)
    except OSError:
        return _uncached(ort, model, dev, providers, threads, verbose, start)
    try:
        so = session_options(ort, threads, verbose)
        so.optimized_model_filepath = os.path.join(work, os.path.basename(opt))
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    os.path.basename(data))
        so.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        try:
            sess = _session(ort, model, so, providers, verbose)
            saved = os.path.exists(so.optimized_model_filepath) and sess.get_providers()[0] == provider
        except Exception:   # noqa: BLE001 - saving the optimized model failed: no cache this time
            saved = False
            so = session_options(ort, threads, verbose)
            sess = _session(ort, model, so, providers, verbose)
        if saved:
            try:
                store.commit(cdir, key, work, fields)
                store.prune(cdir)
            except OSError:
                saved = False
                store.discard(cdir, key)
    finally:   # a failed run leaves nothing behind
        shutil.rmtree(work, ignore_errors=True)
    return sess, SessionInfo(dev, sess.get_providers()[0], time.perf_counter() - start, False,
                             opt if saved else None, key)


def _uncached(ort, model, dev, providers, threads, verbose, start):
    sess = _session(ort, model, session_options(ort, threads, verbose), providers, verbose)
    return sess, SessionInfo(dev, sess.get_providers()[0], time.perf_counter() - start, False, None, None)


def _session(ort, model, so, providers, verbose):
    with _stderr_silenced(not verbose and providers[0] != "CPUExecutionProvider"):
        return ort.InferenceSession(model, so, providers=providers)
