"""ViT-B/16 written in nnd (std.vit) against torchvision's vit_b_16 exported
by torch.onnx.export, the same weights in both, on onnxruntime's CPU.

    python benchmarks/vit.py            # batch 1 and 8, 3 compiles each
    python benchmarks/vit.py --quick    # 1 compile each, shorter timing

Prints markdown tables: compile time (whole process: `nndc compile
--weights` vs a script that builds torchvision's model, loads the weights
and exports it), latency at batch 1 and 8 (the two sessions measured
interleaved, see run.py's _time_interleaved) with the ratio, and the
operators of each graph after onnxruntime's optimizations. Target: nnd's
ViT at most 1.03x the exported one's latency.

Needs the `bench` and `test` extras (torchvision, safetensors; torchvision
is imported through tests/tv.py, see there). The export turns
off PyTorch's fused attention path (`torch.backends.mha.set_fastpath_enabled
(False)`), which the TorchScript exporter cannot export.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import numpy as np  # noqa: E402

import common as C  # noqa: E402
import tvmodels as TV  # noqa: E402
from run import _optimized_ops, _time_interleaved, log  # noqa: E402

NAME = "vit_b_16"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one compile each, 10 s of timing per batch")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    cfg = ap.parse_args(argv)
    runs, seconds = (1, 10.0) if cfg.quick else (3, 30.0)
    from nnd.runtime.session import create_session
    load_before, start = C.load(), time.time()
    tmp = tempfile.mkdtemp(prefix="nnd-vit-")
    try:
        w = os.path.join(tmp, "vit_b_16.safetensors")
        log("weights")
        TV.save_weights(NAME, w)
        src = os.path.join(tmp, "vit.nnd")
        with open(src, "w") as f:
            f.write(TV.nnd_source(NAME))
        ours, theirs = os.path.join(tmp, "nnd.onnx"), os.path.join(tmp, "torch.onnx")
        script = os.path.join(tmp, "export.py")
        with open(script, "w") as f:
            f.write(TV.export_script(NAME, w, theirs))
        env = C.child_env(os.path.join(tmp, "cache"))
        jobs = {"nndc compile --weights": C.nndc() + ["compile", src, "--weights", w, "-o", ours],
                "torch.onnx.export (TorchScript)": [C.PY, script]}
        times: dict = {k: [] for k in jobs}
        for r in range(runs):   # interleaved
            for k, cmd in jobs.items():
                p = C.run_proc(cmd, env)
                if p.rc != 0:
                    sys.stderr.write(p.err)
                    return 1
                times[k].append(p.seconds)
                log(f"compile {k}: {p.seconds:.2f} s")
        sessions = {k: create_session(p, "cpu", threads=cfg.threads, cache=False)[0]
                    for k, p in (("nnd", ours), ("torch", theirs))}
        names = {k: s.get_inputs()[0].name for k, s in sessions.items()}
        lat_rows = []
        for batch in (1, 8):
            x = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224)).astype(np.float32)
            a, b = (sessions[k].run(None, {names[k]: x})[0] for k in ("nnd", "torch"))
            err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6))
            fns = {k: (lambda s=s, n=names[k]: s.run(None, {n: x})) for k, s in sessions.items()}
            log(f"latency, batch {batch}")
            med = {k: C.median(v) * 1000 for k, v in _time_interleaved(fns, seconds, 5).items()}
            lat_rows.append([batch, C.fmt_ms(med["nnd"]), C.fmt_ms(med["torch"]),
                             C.fmt_x(med["nnd"] / med["torch"]), f"{err:.0e}"])
        ops = {k: collections.Counter(_optimized_ops(p, "cpu")) for k, p in (("nnd", ours), ("torch", theirs))}
    finally:
        C.rmtree(tmp)
    m = C.machine()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; {m['cpu']}, {m['cores']} cores; Python {m['python']}; "
          f"onnxruntime {C.versions()['onnxruntime']}, torch {C.versions()['torch']}; {cfg.threads} threads.")
    print(f"Load average (1/5/15 min) before {load_before}, after {C.load()}; took {time.time() - start:.0f} s.\n")
    print("#### ViT-B/16 compile time, whole process (median of %d, interleaved)\n" % runs)
    med = {k: C.median(v) for k, v in times.items()}
    (kn, vn), (kt, vt) = med.items()
    print(C.table(["nndc compile --weights", "torch.onnx.export (TorchScript)", "nnd / torch"],
                  [[C.fmt_s(vn), C.fmt_s(vt), C.fmt_x(vn / vt)]]))
    print("\n#### ViT-B/16 latency, onnxruntime CPU (median)\n")
    print(C.table(["batch", "nnd ONNX", "torch ONNX", "nnd / torch", "max rel diff"], lat_rows))
    print("\n#### Operators after onnxruntime's optimizations\n")
    kinds = sorted(set(ops["nnd"]) | set(ops["torch"]))
    rows = [[k, ops["nnd"][k], ops["torch"][k]] for k in kinds if ops["nnd"][k] != ops["torch"][k]]
    rows.append(["all", sum(ops["nnd"].values()), sum(ops["torch"].values())])
    print(C.table(["op (where the counts differ)", "nnd", "torch"], rows))
    print("\n#### Target\n")
    for row in lat_rows:
        r = float(row[3].rstrip("x"))
        print(f"- [{'x' if r <= 1.03 else ' '}] batch {row[0]}: nnd <= 1.03x torch-exported ONNX: {row[3]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
