"""How fast `nndc check` is.

    python benchmarks/check_speed.py            # 15 runs of each measurement
    python benchmarks/check_speed.py -n 30 FILE.nnd ...

Reports, for the ResNet-50 example when there is one (examples/resnet50.nnd),
else for benchmarks/resnet50_standin.nnd and every examples/*.nnd:

  * the whole-process wall time of `nndc check FILE` (median and best of n
    runs), twice: as this environment runs it, and with nnd's own modules
    compiled to bytecode beforehand (as an installed package is; here
    PYTHONDONTWRITEBYTECODE may be set, which makes every run compile nnd's
    sources anew);
  * the time of one check when many are made in one process;
  * for scale, the start-up of Python alone and the import of lark and
    networkx;
  * which heavy modules (onnx, onnxruntime, numpy, networkx) the check
    imported: it should be none of them.

Targets (issue 3): under 0.3 s for the whole process, under 20 ms per check
in one process. The machine's other load makes single runs noisy; the
median of several is what to compare.

Latest figures (2 cores shared with other jobs, load ~0.8; python 3.11.7):

    python -c pass / import lark / import networkx    0.034 / 0.103 / 0.202 s
    nndc check resnet50_standin.nnd, whole process     0.230 s as run here (no .pyc),
                                                       0.154 s with bytecode (target 0.3 s)
    nndc check lenet5.nnd, whole process               0.200 s / 0.144 s
    per check in one process, ResNet-50 / LeNet-5      14.3 / 2.4 ms parsed anew,
                                                       8.2 / 0.7 ms unchanged (target 20 ms)
    heavy modules imported by a check                  none

Where the time goes: Python's start-up (~0.03 s), importing lark (~0.07 s),
nnd's own modules (~0.03 s compiled), parsing and elaboration. networkx
(0.2 s) is not imported by a check: the IR builds its graph on first use.
lark's analysed grammar is cached in ~/.cache/nnd (0.1 s saved per run).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
TARGET_PROCESS_S = 0.3
TARGET_IN_PROCESS_MS = 20.0


def _files(args) -> list[str]:
    if args:
        return args
    resnet = os.path.join(REPO, "examples", "resnet50.nnd")
    if os.path.exists(resnet):
        return [resnet]
    # Until the example exists: a self-contained ResNet-50, and the examples there are.
    return [os.path.join(REPO, "benchmarks", "resnet50_standin.nnd")] + \
        sorted(glob.glob(os.path.join(REPO, "examples", "*.nnd")))


def _nndc() -> list[str]:
    script = os.path.join(os.path.dirname(PY), "nndc")
    return [script] if os.path.exists(script) else [PY, "-m", "nnd"]


def _time(cmd: list[str], n: int, env=None) -> tuple[float, float, int]:
    times, rc = [], 0
    for _ in range(n):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        rc = p.returncode
    return statistics.median(times), min(times), rc


def _imported(path: str) -> list[str]:
    code = ("import sys\nfrom nnd import cli\ncli.main(['check', sys.argv[1]])\n"
            "print(' '.join(m for m in ('onnx', 'onnxruntime', 'numpy', 'networkx', 'torch') if m in sys.modules))")
    out = subprocess.run([PY, "-c", code, path], cwd=REPO, capture_output=True, text=True)
    return out.stdout.split()


def _in_process(files: list[str], n: int, reparse: bool) -> float:
    """ms per check; with reparse, every check parses its file anew (as for
    many different files), else unchanged files come from the parse cache."""
    code = (
        "import sys, time\nfrom nnd import api, loader\nfiles = sys.argv[3:]\nn = int(sys.argv[1])\n"
        "reparse = sys.argv[2] == '1'\n"
        "for f in files: api.check(f)\n"
        "t = time.perf_counter()\n"
        "for _ in range(n):\n"
        "    for f in files:\n"
        "        if reparse: loader._parse_cached.cache_clear()\n"
        "        api.check(f)\n"
        "print((time.perf_counter() - t) / (n * len(files)))\n")
    out = subprocess.run([PY, "-c", code, str(n), "1" if reparse else "0"] + files, cwd=REPO,
                         capture_output=True, text=True)
    return float(out.stdout.strip()) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description="Time `nndc check`.")
    ap.add_argument("-n", type=int, default=15, help="runs of each measurement")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = _files(args.files)
    if not files:
        print("no .nnd files to check")
        return 1
    rel = [os.path.relpath(f, REPO) for f in files]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"median (best) of {args.n} runs")
    print(f"files: {', '.join(rel)}")

    base = dict(os.environ)
    pyc_dir = tempfile.mkdtemp(prefix="nnd-bench-pyc-")
    compiled = dict(base, PYTHONPYCACHEPREFIX=pyc_dir)
    compiled.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        print("\nfor scale:")
        for label, cmd in (("python -c pass", [PY, "-c", "pass"]),
                           ("python -c 'import lark'", [PY, "-c", "import lark"]),
                           ("python -c 'import networkx'", [PY, "-c", "import networkx"])):
            med, best, _ = _time(cmd, args.n, compiled)
            print(f"  {label:34s} {med:6.3f} s ({best:.3f})")

        ok = True
        print("\nwhole process, `nndc check FILE`:")
        for f in rel:
            cmd = _nndc() + ["check", f]
            subprocess.run(cmd, cwd=REPO, env=compiled, capture_output=True)   # warm the bytecode and grammar caches
            med_a, best_a, rc = _time(cmd, args.n, base)
            med_b, best_b, _ = _time(cmd, args.n, compiled)
            status = "ok" if med_b < TARGET_PROCESS_S else "over target"
            ok &= med_b < TARGET_PROCESS_S
            print(f"  {f}: exit {rc}")
            print(f"    as this environment runs it   {med_a:6.3f} s ({best_a:.3f})"
                  + ("   [PYTHONDONTWRITEBYTECODE set]" if base.get("PYTHONDONTWRITEBYTECODE") else ""))
            print(f"    with nnd compiled to bytecode {med_b:6.3f} s ({best_b:.3f})   target < {TARGET_PROCESS_S} s: "
                  f"{status}")
        print("\nmany checks in one process, per check:")
        for f in rel:
            ms = _in_process([os.path.join(REPO, f)], max(20, args.n * 4), reparse=True)
            warm = _in_process([os.path.join(REPO, f)], max(20, args.n * 4), reparse=False)
            ok &= ms < TARGET_IN_PROCESS_MS
            print(f"  {f}: {ms:5.1f} ms parsed anew, {warm:5.1f} ms unchanged (parse cached)   "
                  f"target < {TARGET_IN_PROCESS_MS:.0f} ms: {'ok' if ms < TARGET_IN_PROCESS_MS else 'over target'}")
        heavy = _imported(rel[0])
        print(f"heavy modules imported by a check: {', '.join(heavy) if heavy else 'none'}")
        ok &= not heavy
    finally:
        shutil.rmtree(pyc_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
