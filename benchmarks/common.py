"""Shared by the benchmark scripts: timing child processes, the machine, tables."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable


def nndc() -> list[str]:
    exe = os.path.join(os.path.dirname(PY), "nndc")
    return [exe] if os.path.exists(exe) else [PY, "-m", "nnd"]


def child_env(cache_dir: str) -> dict:
    """The environment of a user's shell: bytecode caches allowed (an installed
    package has its .pyc files; PYTHONDONTWRITEBYTECODE in this workplace
    would make every run recompile nnd's sources), nnd's cache in `cache_dir`."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NND_CACHE_DIR"] = cache_dir
    env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    return env


class Proc:
    def __init__(self, seconds: float, maxrss_mb: float, rc: int, err: str):
        self.seconds, self.maxrss_mb, self.rc, self.err = seconds, maxrss_mb, rc, err


TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)


def run_proc(cmd: list[str], env: dict | None = None, timeout: float | None = None, cwd: str | None = None,
             memory: bool = False) -> Proc:
    """Wall time and peak resident memory of one child process (os.wait4
    gives that child's own rusage, unlike RUSAGE_CHILDREN's running maximum).

    memory=True runs it under /usr/bin/time: Linux carries the peak RSS of
    the forked copy of this (large) process across exec into the child's
    ru_maxrss, so only a child forked by a small process measures its own."""
    import threading
    if memory and TIME:
        import tempfile
        fd, rep = tempfile.mkstemp(suffix=".rss")
        os.close(fd)
        try:
            p = run_proc([TIME, "-f", "%M", "-o", rep] + cmd, env, timeout, cwd)
            with open(rep) as f:
                lines = [ln for ln in f.read().split() if ln.strip().isdigit()]
            if lines:
                p.maxrss_mb = int(lines[-1]) / 1024.0
            return p
        finally:
            os.unlink(rep)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(p.stderr.read()), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, p.kill) if timeout else None
    if timer:
        timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    if timer:
        timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    kb = ru.ru_maxrss if sys.platform != "darwin" else ru.ru_maxrss / 1024
    return Proc(dt, kb / 1024.0, p.returncode, b"".join(chunks).decode(errors="replace"))


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}


def load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def versions() -> dict:
    out = {}
    for mod in ("numpy", "onnx", "onnxruntime", "torch", "onnxscript", "lark", "networkx"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except Exception:   # noqa: BLE001
            out[mod] = None
    return out


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"   # noqa: E731
    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(headers), sep] + [line(r) for r in cells])


def fmt_s(x) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms"


def fmt_ms(x) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.3f} ms" if x < 1 else f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def fmt_x(x) -> str:
    return "n/a" if x is None or x != x else f"{x:.2f}x"


def rmtree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
