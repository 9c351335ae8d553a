"""Compile time of nndc: ResNet-50 and chains of 100, 1,000 and 10,000
`Conv2d(16, 3, padding = 1) -> ReLU` layers, source to ONNX file with random
weights, whole process; then where the time goes, phase by phase.

    python benchmarks/compile_speed.py [--runs 5] [--quick]

Targets (issue 2): ResNet-50 under 1 s whole process on the 2-core machine;
time per layer flat (within 1.5x) from 100 to 10,000 layers.

Two views of time per layer: the whole-process time a layer adds,
(t(n) - t(1)) / (n - 1), t(1) being a one-layer chain (the fixed cost:
Python, numpy, networkx, onnx), which at 100 layers is within the noise of a
shared machine; and the in-process compile time (parse to written file,
median of runs, the garbage collector paused as nndc pauses it) divided by
the layers, which is the flatness measure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import common as C  # noqa: E402
import models as M  # noqa: E402

CHAINS = [1, 100, 1000, 10000]


def whole_process(tmp: str, names: list[str], runs: int) -> dict:
    env = C.child_env(os.path.join(tmp, "cache"))
    cmds = {}
    for name in names:
        src = os.path.join(tmp, f"{name}.nnd")
        with open(src, "w") as f:
            f.write(M.nnd_source(name))
        cmds[name] = C.nndc() + ["compile", src, "-o", os.path.join(tmp, f"{name}.onnx")]
        p = C.run_proc(cmds[name], env)   # warm: .pyc files and the parser cache, as after installing
        if p.rc != 0:
            raise SystemExit(f"nndc compile {name} failed:\n{p.err}")
    times: dict = {n: [] for n in names}
    for _ in range(runs):   # interleaved: machine load hits every model alike
        for name, cmd in cmds.items():
            times[name].append(C.run_proc(cmd, env).seconds)
    return {n: {"median": C.median(v), "min": min(v), "runs": v} for n, v in times.items()}


def phases(name: str, runs: int = 3) -> dict:
    """In-process compiles timed by phase (the imports already done): the
    median of each phase over `runs`."""
    got = [_phases(name) for _ in range(runs)]
    return {k: C.median([g[k] for g in got]) for k in got[0]}


def _phases(name: str) -> dict:
    import gc
    import nnd.api as api
    from nnd import loader
    from nnd.lower import lower_lazy
    from nnd.weights import materialize
    text = M.nnd_source(name)
    loader._parse_cached(M.nnd_source("chain1"), "warm.nnd")
    loader._parse_cached.cache_clear()
    out = {}
    gc.collect()
    gc.disable()   # as api.check / compile / save do
    try:
        return _timed(name, text, out, api, loader, lower_lazy, materialize)
    finally:
        gc.enable()


def _timed(name, text, out, api, loader, lower_lazy, materialize) -> dict:
    # The loader keeps parsed files; parse into that cache, then check (which
    # finds the tree there and only elaborates).
    t = time.perf_counter()
    loader._parse_cached(text, f"{name}.nnd")
    out["parse"] = time.perf_counter() - t
    t = time.perf_counter()
    res = api.check(text=text, path=f"{name}.nnd")
    out["elaborate"] = time.perf_counter() - t
    loader._parse_cached.cache_clear()
    t = time.perf_counter()
    materialize(res.ir, 0)
    out["init"] = time.perf_counter() - t
    t = time.perf_counter()
    from nnd.passes import run_pipeline
    run_pipeline(res.ir)
    out["passes"] = time.perf_counter() - t
    t = time.perf_counter()
    lm = lower_lazy(res.ir, f"{name}.nnd")
    out["lower"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        api.save(lm, os.path.join(d, "m.onnx"))
        out["write"] = time.perf_counter() - t
    out["layers"] = res.ir.layer_count()
    return out


def import_time() -> float:
    env = C.child_env(tempfile.gettempdir())
    # os._exit as nndc compile ends: the interpreter's teardown of these
    # modules (about 0.2 s) is not part of a compile.
    code = "import nnd.cli, nnd.lower, nnd.weights, nnd.passes, networkx, os; os._exit(0)"
    C.run_proc([C.PY, "-c", code], env)
    return C.median([C.run_proc([C.PY, "-c", code], env).seconds for _ in range(3)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=None, help="whole-process runs per model (default 5; --quick 3)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    names = ["resnet50"] + [f"chain{n}" for n in CHAINS]
    load0 = C.load()
    with tempfile.TemporaryDirectory(prefix="nnd-speed-") as tmp:
        whole = whole_process(tmp, names, runs)
    imp = import_time()
    ph = {n: phases(n, runs) for n in names if n != "chain1"}
    load1 = C.load()
    m = C.machine()
    print("# nndc compile speed\n")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; {m['cpu']}, {m['cores']} cores; Python {m['python']}; "
          f"{runs} runs per model, interleaved; load average before {load0}, after {load1}.\n")
    base = whole["chain1"]["median"]
    cols = ["parse", "elaborate", "init", "passes", "lower", "write"]
    inproc = {n: sum(ph[n][c] for c in cols) for n in ph}
    rows = []
    for n in names:
        w = whole[n]["median"]
        layers = ph[n]["layers"] if n in ph else 2
        k = int(n[5:]) if n.startswith("chain") else None
        per = f"{(w - base) / (k - 1) * 1000:.3f} ms" if k and k > 1 else ""
        rows.append([n, f"{layers:,}", C.fmt_s(w), C.fmt_s(whole[n]["min"]), per,
                     f"{w / k * 1000:.3f} ms" if k else "",
                     f"{inproc[n] / k * 1000:.3f} ms" if k and n in inproc else ""])
    print("## Whole process: `nndc compile FILE -o OUT.onnx` (random weights included)\n")
    print(C.table(["model", "IR nodes", "median", "min", "per layer, added", "whole / layers",
                   "in-process / layers"], rows))
    print(f"\nImporting nndc's modules alone: {C.fmt_s(imp)} (Python, numpy, networkx, onnx, lark, nnd).\n")
    print(f"## In-process phases (median of {runs}; imports excluded)\n")
    prow = [[n] + [C.fmt_s(ph[n][c]) for c in cols] + [C.fmt_s(sum(ph[n][c] for c in cols))] for n in ph]
    print(C.table(["model"] + cols + ["total"], prow))
    per = [inproc[f"chain{k}"] / k for k in CHAINS if k >= 100]
    r50 = whole["resnet50"]["median"]
    print("\n## Targets\n")
    print(f"- [{'x' if r50 < 1.0 else ' '}] ResNet-50 whole process under 1 s: {r50:.2f} s (median)")
    spread = max(per) / min(per)
    print(f"- [{'x' if spread <= 1.5 else ' '}] time per layer flat within 1.5x from 100 to 10,000 layers "
          f"(in-process): max/min {spread:.2f}x")
    added = [(whole[f"chain{k}"]["median"] - base) / (k - 1) for k in CHAINS if k >= 1000]
    print(f"- whole-process time a layer adds, 1,000 vs 10,000 layers: "
          + " vs ".join(f"{a * 1000:.3f} ms" for a in added))
    return 0


if __name__ == "__main__":
    sys.exit(main())
