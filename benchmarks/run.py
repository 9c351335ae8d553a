"""nnd's benchmark: one run, one markdown table per question, every ratio
measured in this run on the same weights.

    python benchmarks/run.py --quick     # a few minutes: fewer repetitions, no slow dynamo exports
    python benchmarks/run.py             # the default repetitions
    python benchmarks/run.py --full      # everything, the dynamo exporter on the 3,000-layer chain too

    python benchmarks/run.py --quick --only compile,infer --models mobilenet_v2,vit_b_16   # some rows

Sections (pick with --only compile,memory,infer,session):
  compile  whole-process compile time: `nndc compile` vs the script a PyTorch
           user runs (torch.onnx.export, TorchScript and dynamo exporters)
  memory   peak RSS compiling VGG-16 with its weights, vs its weights' size
  infer    CPU latency, batch 1 and 8: nnd's ONNX under onnxruntime vs the
           torch-exported ONNX of the same network and weights under
           onnxruntime vs torch eager (and on CUDA when a GPU is usable)
  session  VGG-16 session creation, first vs cached optimized model

The standard-library rows (mobilenet_v2, efficientnet_b0, convnext_tiny,
vit_b_16; see tvmodels.py) compile `import std.X` with torchvision's weights
(`--weights`) against a script that builds torchvision's model, loads the
same weights and exports it (TorchScript only), and time both ONNX files.

Needs the `bench` extra (torch; onnxscript for the dynamo exporter, whose
column reads n/a without it), and the `test` extra (torchvision, safetensors)
for the standard-library rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import collections  # noqa: E402

import common as C  # noqa: E402
import models as M  # noqa: E402
import tvmodels as TV  # noqa: E402

COMPILE_MODELS = ["lenet5", "resnet50", "vgg16", "chain100", "chain1000", "chain3000", *TV.MODELS]
INFER_MODELS = ["lenet5", "resnet50", "vgg16", *TV.MODELS]
LAYERS = {"chain100": 100, "chain1000": 1000, "chain3000": 3000, "chain10000": 10000}


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def have_onnxscript() -> bool:
    try:
        import onnxscript  # noqa: F401
        return True
    except Exception:   # noqa: BLE001
        return False


# ------------------------------------------------------------------ compile

def tv_files(tmp: str, name: str) -> dict:
    """A torchvision model's weights (written once per run), nnd source, export
    script, and the commands that compile each side to its .onnx."""
    f = {k: os.path.join(tmp, f"{name}.{k}") for k in ("safetensors", "nnd", "export.py", "nnd.onnx", "torch.onnx")}
    if not os.path.exists(f["safetensors"]):
        log(f"{name}: torchvision weights")
        TV.save_weights(name, f["safetensors"])
        with open(f["nnd"], "w") as h:
            h.write(TV.nnd_source(name))
        with open(f["export.py"], "w") as h:
            h.write(TV.export_script(name, f["safetensors"], f["torch.onnx"]))
    f["nndc"] = C.nndc() + ["compile", f["nnd"], "--weights", f["safetensors"], "-o", f["nnd.onnx"]]
    f["torchscript"] = [C.PY, f["export.py"]]
    return f


def export_script(name: str, out: str, dynamo: bool) -> str:
    shape = M.input_shape(name, 1)
    return (M.TORCH_SOURCE + f"\n\nmodel = build({name!r}).eval()\n"
            f"x = torch.randn{shape}\n"
            f"torch.onnx.export(model, (x,), {out!r}, dynamo={dynamo}, input_names=['x'], output_names=['y'])\n")


def bench_compile(tmp: str, cfg) -> dict:
    env = C.child_env(os.path.join(tmp, "cache"))
    dyn_ok = have_onnxscript()
    results = {}
    for name in cfg.compile_models:
        if name in TV.MODELS:   # with torchvision's weights on both sides; no dynamo export
            f = tv_files(tmp, name)
            jobs = {"nndc": f["nndc"], "torchscript": f["torchscript"]}
        else:
            jobs = compile_jobs(tmp, name, cfg, dyn_ok)
        times: dict = {k: [] for k in jobs}
        failed: dict = {}
        reps = {k: (cfg.reps_nnd if k == "nndc" else cfg.reps_torch) for k in jobs}
        log(f"compile {name}: " + ", ".join(f"{k} x{reps[k]}" for k in jobs))
        for k, cmd in jobs.items():   # warm-up: .pyc files, nnd's parser cache, the OS file cache
            if k == "nndc" or cfg.warm_torch:
                p = C.run_proc(cmd, env, timeout=cfg.timeout)
                if p.rc != 0:
                    failed[k] = p.err.strip().splitlines()[-1:] or [f"exit {p.rc}"]
        for r in range(max(reps.values())):   # interleaved, so load hits every column alike
            for k, cmd in jobs.items():
                if r >= reps[k] or k in failed:
                    continue
                p = C.run_proc(cmd, env, timeout=cfg.timeout)
                if p.rc != 0:
                    failed[k] = p.err.strip().splitlines()[-1:] or [f"exit {p.rc}"]
                    continue
                times[k].append(p.seconds)
        res = {k: (C.median(v) if v and k not in failed else None) for k, v in times.items()}
        res["runs"] = {k: [round(x, 3) for x in v] for k, v in times.items()}
        if failed:
            res["failed"] = failed
            log(f"  failed: {failed}")
        if name in TV.MODELS:
            res["dynamo_note"] = "not run (torchvision model)"
        elif not dyn_ok:
            res["dynamo_note"] = "onnxscript is not installed"
        elif name in cfg.skip_dynamo:
            res["dynamo_note"] = "skipped (--full runs it)"
        log("  " + ", ".join(f"{k} {C.fmt_s(v)}" for k, v in res.items() if k in jobs))
        results[name] = res
    return results


def compile_jobs(tmp: str, name: str, cfg, dyn_ok: bool) -> dict:
    src = os.path.join(tmp, f"{name}.nnd")
    with open(src, "w") as f:
        f.write(M.nnd_source(name))
    jobs = {"nndc": C.nndc() + ["compile", src, "-o", os.path.join(tmp, f"{name}.nnd.onnx")]}
    for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
        if dynamo and (not dyn_ok or name in cfg.skip_dynamo):
            continue
        script = os.path.join(tmp, f"export_{name}_{exporter}.py")
        with open(script, "w") as f:
            f.write(export_script(name, os.path.join(tmp, f"{name}.{exporter}.onnx"), dynamo))
        jobs[exporter] = [C.PY, script]
    return jobs


def compile_table(res: dict) -> str:
    rows = []
    for name, r in res.items():
        n = r.get("nndc")
        ts, dy = r.get("torchscript"), r.get("dynamo")
        layers = LAYERS.get(name)
        rows.append([name, C.fmt_s(n), C.fmt_s(ts), C.fmt_s(dy),
                     C.fmt_x(n / ts) if n and ts else "n/a", C.fmt_x(n / dy) if n and dy else "n/a",
                     f"{n / layers * 1000:.3f} ms" if n and layers else ""])
    return C.table(["model", "nndc compile", "TorchScript export", "dynamo export", "nndc / TorchScript",
                    "nndc / dynamo", "nndc whole / layers"], rows)


# ------------------------------------------------------------------ memory

def bench_memory(tmp: str, cfg) -> dict:
    import torch
    env = C.child_env(os.path.join(tmp, "cache"))
    src = os.path.join(tmp, "vgg16.nnd")
    with open(src, "w") as f:
        f.write(M.vgg16_nnd())
    log("memory: writing VGG-16 weights (.npz)")
    tm = M.torch_model("vgg16")
    arrays = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    wbytes = sum(a.nbytes for a in arrays.values())
    npz = os.path.join(tmp, "vgg16_weights.npz")
    np.savez(npz, **arrays)
    del arrays, tm
    out = os.path.join(tmp, "vgg16.mem.onnx")
    res = {"weights_mb": wbytes / 2**20}
    C.run_proc(C.nndc() + ["compile", src, "-o", out], env)   # warm
    p = C.run_proc(C.nndc() + ["compile", src, "--weights", npz, "-o", out], env, memory=True)
    if p.rc == 0:
        res["nndc_weights_mb"], res["nndc_weights_s"] = p.maxrss_mb, p.seconds
    else:
        res["nndc_weights_note"] = (p.err.strip().splitlines() or ["failed"])[-1][:160]
        log(f"  --weights failed: {res['nndc_weights_note']}")
    p = C.run_proc(C.nndc() + ["compile", src, "-o", out], env, memory=True)
    res["nndc_random_mb"], res["nndc_random_s"] = p.maxrss_mb, p.seconds
    for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
        if dynamo and (not have_onnxscript() or not cfg.memory_dynamo):
            continue
        script = os.path.join(tmp, f"mem_{exporter}.py")
        with open(script, "w") as f:
            f.write(export_script("vgg16", os.path.join(tmp, f"vgg16.mem.{exporter}.onnx"), dynamo))
        p = C.run_proc([C.PY, script], env, timeout=cfg.timeout, memory=True)
        if p.rc == 0:
            res[f"{exporter}_mb"] = p.maxrss_mb
    log("  " + ", ".join(f"{k} {v:.0f}" for k, v in res.items() if isinstance(v, float)))
    del torch
    return res


def memory_table(r: dict) -> str:
    w = r["weights_mb"]
    rows = []
    if "nndc_weights_mb" in r:
        rows.append(["nndc compile --weights vgg16.npz", f"{r['nndc_weights_mb']:.0f} MB",
                     f"{r['nndc_weights_mb'] / w:.2f}x"])
    else:
        rows.append(["nndc compile --weights vgg16.npz", "n/a", r.get("nndc_weights_note", "")])
    rows.append(["nndc compile (random weights)", f"{r['nndc_random_mb']:.0f} MB", f"{r['nndc_random_mb'] / w:.2f}x"])
    for k, label in (("torchscript_mb", "torch.onnx.export, TorchScript"), ("dynamo_mb", "torch.onnx.export, dynamo")):
        if k in r:
            rows.append([label + " (whole script)", f"{r[k]:.0f} MB", f"{r[k] / w:.2f}x"])
    return (f"VGG-16 weights: {w:.0f} MB (float32)\n\n"
            + C.table(["process", "peak RSS", "/ weights"], rows))


# ------------------------------------------------------------------ inference

def _time_interleaved(fns: dict, seconds: float, min_runs: int) -> dict:
    """Latencies of each function, measured in rounds of blocks: each block
    one untimed call, then calls of about 50 ms in all. The untimed call
    absorbs the switch from the previous block, whose thread pool still
    spins for a while after its last run (onnxruntime's and torch's both do):
    timed right after another session, a model measured up to 1.6x slower
    than alone."""
    for f in fns.values():   # warm-up
        f()
        f()
    per = {}
    for k, f in fns.items():
        t = time.perf_counter()
        f()
        per[k] = time.perf_counter() - t
    inner = {k: max(1, int(0.05 / max(v, 1e-6))) for k, v in per.items()}
    block = sum(per[k] * (inner[k] + 1) for k in fns)
    rounds = max(-(-min_runs // min(inner.values())), int(seconds / max(block, 1e-6)))
    lat: dict = {k: [] for k in fns}
    order = list(fns.items())
    for r in range(rounds):
        # Every other round in reverse, so that no model always runs right
        # after the same other one (on LeNet-5, a tenth of a millisecond, two
        # identical graphs measured 1.25x apart in one run).
        for k, f in (order if r % 2 == 0 else order[::-1]):
            f()
            for _ in range(inner[k]):
                t = time.perf_counter()
                f()
                lat[k].append(time.perf_counter() - t)
    return lat


def bench_infer(tmp: str, cfg, device: str = "cpu") -> dict:
    import torch
    import nnd
    from nnd.runtime.session import create_session
    threads = cfg.threads
    torch.set_num_threads(threads)
    results = {}
    for name in cfg.infer_models:
        log(f"infer {name} on {device}: exporting")
        if name in TV.MODELS:   # torchvision's model and weights; the files compile_ made, or made now
            f = tv_files(tmp, name)
            ours, theirs = f["nnd.onnx"], f["torch.onnx"]
            for k, out in (("nndc", ours), ("torchscript", theirs)):
                if not os.path.exists(out):
                    p = C.run_proc(f[k], C.child_env(os.path.join(tmp, "cache")), timeout=cfg.timeout)
                    if p.rc != 0:
                        raise RuntimeError(f"{name} {k}: {p.err.strip()[-400:]}")
            tm = TV.torch_model(name, f["safetensors"])
            shape = lambda b: (b, *TV.INPUT)   # noqa: E731
        else:
            ours = os.path.join(tmp, f"{name}.infer.onnx")
            nnd.save(nnd.compile(text=M.nnd_source(name), seed=0, lazy=True), ours)
            tm = M.torch_model(name)
            M.load_into_torch(tm, M.nnd_arrays(name, seed=0))
            theirs = os.path.join(tmp, f"{name}.torch.onnx")
            with torch.no_grad():
                torch.onnx.export(tm, (torch.randn(*M.input_shape(name, 1)),), theirs, dynamo=False,
                                  input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
            shape = lambda b, name=name: M.input_shape(name, b)   # noqa: E731
        ops = {k: collections.Counter(_optimized_ops(p, device)) for k, p in (("nnd", ours), ("torch", theirs))}
        same = ops["nnd"] == ops["torch"]
        ops_diff = {k: [ops["nnd"][k], ops["torch"][k]] for k in sorted(set(ops["nnd"]) | set(ops["torch"]))
                    if ops["nnd"][k] != ops["torch"][k]}
        ops_diff["all"] = [sum(ops["nnd"].values()), sum(ops["torch"].values())]
        s_ours, _ = create_session(ours, device, threads=threads, cache=False)
        s_theirs, _ = create_session(theirs, device, threads=threads, cache=False)
        tdev = "cuda" if device == "cuda" and torch.cuda.is_available() else ("cpu" if device == "cpu" else None)
        if tdev:
            tm = tm.to(tdev)
        in_ours = s_ours.get_inputs()[0].name
        for batch in (1, 8):
            x = np.random.default_rng(batch).standard_normal(shape(batch)).astype(np.float32)
            xt = torch.from_numpy(x).to(tdev) if tdev else None
            a = s_ours.run(None, {in_ours: x})[0]
            b = s_theirs.run(None, {"x": x})[0]
            err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6))

            def eager():
                with torch.inference_mode():
                    y = tm(xt)
                    if tdev == "cuda":
                        torch.cuda.synchronize()
                    return y
            fns = {"nnd+ort": lambda: s_ours.run(None, {in_ours: x}),
                   "torch-onnx+ort": lambda: s_theirs.run(None, {"x": x})}
            if tdev:
                fns["torch eager"] = eager
            lat = _time_interleaved(fns, cfg.infer_seconds, cfg.infer_min_runs)
            med = {k: C.median(v) * 1000 for k, v in lat.items()}
            results[f"{name}/b{batch}"] = {"ms": med, "runs": {k: len(v) for k, v in lat.items()}, "max_rel_err": err,
                                           "same_graph": same, "ops_diff": ops_diff}
            log(f"  {name} b{batch}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in med.items()) + f" (rel err {err:.1e})")
        del s_ours, s_theirs, tm
    return results


def _optimized_ops(path: str, device: str) -> list:
    """The operators of the graph onnxruntime runs, after its own optimizations."""
    import onnx
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.optimized_model_filepath = path + ".optimized.onnx"
    providers = ["CUDAExecutionProvider"] if device == "cuda" else []
    ort.InferenceSession(path, so, providers=providers + ["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(so.optimized_model_filepath, load_external_data=False).graph.node]
    os.unlink(so.optimized_model_filepath)
    return sorted(ops)


def infer_table(res: dict) -> str:
    rows = []
    for key, r in res.items():
        name, b = key.split("/")
        ms = r["ms"]
        o, t, e = ms.get("nnd+ort"), ms.get("torch-onnx+ort"), ms.get("torch eager")
        rows.append([name, b[1:], C.fmt_ms(o), C.fmt_ms(t), C.fmt_ms(e),
                     C.fmt_x(o / t) if o and t else "n/a", C.fmt_x(o / e) if o and e else "n/a",
                     f"{r['max_rel_err']:.0e}", "yes" if r.get("same_graph") else "no"])
    return C.table(["model", "batch", "nnd ONNX + ort", "torch ONNX + ort", "torch eager",
                    "nnd / torch ONNX", "nnd / eager", "max rel diff", "same optimized graph"], rows)


def ops_lines(res: dict) -> list[str]:
    """Where the two graphs differ after onnxruntime's optimizations: each
    operator whose count differs, nnd's count then torch's."""
    out = []
    for key, r in res.items():
        if key.endswith("/b1") and not r.get("same_graph") and r.get("ops_diff"):
            d = r["ops_diff"]
            out.append(f"- {key[:-3]}: " + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in d.items()))
    return out


# ------------------------------------------------------------------ session

def bench_session(tmp: str, cfg) -> dict:
    import nnd
    from nnd.runtime.session import create_session
    path = os.path.join(tmp, "vgg16.session.onnx")
    nnd.save(nnd.compile(text=M.vgg16_nnd(), lazy=True), path)
    first, cached, plain = [], [], []
    for r in range(cfg.session_reps):
        d = os.path.join(tmp, f"sesscache{r}")
        os.environ["NND_CACHE_DIR"] = d
        try:
            _, i1 = create_session(path, "cpu", threads=cfg.threads)
            _, i2 = create_session(path, "cpu", threads=cfg.threads)
            assert not i1.cached and i2.cached, "the second session should come from the cache"
            _, i0 = create_session(path, "cpu", threads=cfg.threads, cache=False)
        finally:
            os.environ.pop("NND_CACHE_DIR", None)
            C.rmtree(d)
        first.append(i1.seconds)
        cached.append(i2.seconds)
        plain.append(i0.seconds)
        log(f"session vgg16: first {i1.seconds:.2f} s, cached {i2.seconds:.2f} s, no cache {i0.seconds:.2f} s")
    return {"first_s": C.median(first), "cached_s": C.median(cached), "nocache_s": C.median(plain),
            "runs": len(first)}


def session_table(r: dict) -> str:
    return C.table(["VGG-16 session creation", "time", "vs first"],
                   [["no cache (onnxruntime alone)", C.fmt_s(r["nocache_s"]), C.fmt_x(r["nocache_s"] / r["first_s"])],
                    ["first run (optimizes, saves the cache)", C.fmt_s(r["first_s"]), "1.00x"],
                    ["cached run", C.fmt_s(r["cached_s"]), C.fmt_x(r["cached_s"] / r["first_s"])]])


# ------------------------------------------------------------------ targets

def targets(results: dict) -> list[str]:
    out = []
    c = results.get("compile", {})

    def chk(label, ok, detail):
        out.append(f"- [{'x' if ok else ' '}] {label}: {detail}")
    r = c.get("resnet50", {})
    if r.get("nndc") and r.get("torchscript"):
        v = r["nndc"] / r["torchscript"]
        chk("ResNet-50 compile <= 1/3 of the TorchScript exporter", v <= 1 / 3, f"{v:.2f}x")
    r = c.get("chain3000", {})
    if r.get("nndc") and r.get("torchscript"):
        v = r["nndc"] / r["torchscript"]
        chk("3,000-layer chain compile <= 1/10 of the TorchScript exporter", v <= 0.1, f"{v:.3f}x")
    m = results.get("memory")
    if m and "nndc_weights_mb" in m:
        v = m["nndc_weights_mb"] / m["weights_mb"]
        chk("VGG-16 compile with weights peak <= 1.5x the weights", v <= 1.5, f"{v:.2f}x")
    for key, r in results.get("infer", {}).items():
        ms = r["ms"]
        if ms.get("torch-onnx+ort"):
            v = ms["nnd+ort"] / ms["torch-onnx+ort"]
            chk(f"{key} nnd <= 1.03x torch-exported ONNX", v <= 1.03, f"{v:.3f}x")
        if ms.get("torch eager"):
            v = ms["nnd+ort"] / ms["torch eager"]
            chk(f"{key} nnd <= 0.7x torch eager", v <= 0.7, f"{v:.2f}x")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--full", action="store_true")
    ap.add_argument("--only", default="compile,memory,infer,session")
    ap.add_argument("--models", help="comma-separated: only these models in the compile and inference tables "
                    f"(of {', '.join(dict.fromkeys(COMPILE_MODELS + INFER_MODELS))})")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)
    pick = [m.strip() for m in args.models.split(",")] if args.models else None
    unknown = set(pick or ()) - set(COMPILE_MODELS + INFER_MODELS + ["chain10000"])
    if unknown:
        ap.error(f"unknown model(s): {', '.join(sorted(unknown))}")
    keep = lambda ms: [m for m in ms if pick is None or m in pick]   # noqa: E731
    cfg = argparse.Namespace(
        threads=args.threads, timeout=900,
        compile_models=keep(COMPILE_MODELS + (["chain10000"] if args.full else [])),
        infer_models=keep(INFER_MODELS),
        reps_nnd=3 if args.quick else 5 if not args.full else 7,
        reps_torch=1 if args.quick else 3,
        warm_torch=not args.quick,
        skip_dynamo=({"vgg16", "chain1000", "chain3000", "chain10000"} if args.quick
                     else {"chain3000", "chain10000"} if not args.full else {"chain10000"}),
        memory_dynamo=args.full,
        infer_seconds=1.5 if args.quick else 6.0 if not args.full else 15.0,
        infer_min_runs=3 if args.quick else 9,
        session_reps=1 if args.quick else 3,
    )
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    label = "quick" if args.quick else "full" if args.full else "default"
    results: dict = {"mode": label, "machine": C.machine(), "versions": C.versions(),
                     "load_before": C.load(), "threads": args.threads,
                     "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    tmp = tempfile.mkdtemp(prefix="nnd-bench-")
    t0 = time.perf_counter()
    try:
        if "compile" in sections:
            results["compile"] = bench_compile(tmp, cfg)
        if "memory" in sections:
            results["memory"] = bench_memory(tmp, cfg)
        if "infer" in sections:
            results["infer"] = bench_infer(tmp, cfg, "cpu")
            from nnd.runtime.session import cuda_unavailable
            why = cuda_unavailable()
            results["cuda"] = {"available": why is None, "reason": why}
            if why is None:
                results["infer_cuda"] = bench_infer(tmp, cfg, "cuda")
        if "session" in sections:
            results["session"] = bench_session(tmp, cfg)
    finally:
        if not args.keep:
            C.rmtree(tmp)
    results["load_after"] = C.load()
    results["seconds"] = time.perf_counter() - t0
    m = results["machine"]
    v = results["versions"]
    print(f"# nnd benchmarks ({label})\n")
    print(f"{results['started']}; {m['cpu']}, {m['cores']} cores, {m['memory']}; Python {m['python']}; "
          f"numpy {v['numpy']}, onnx {v['onnx']}, onnxruntime {v['onnxruntime']}, torch {v['torch']}, "
          f"onnxscript {v['onnxscript'] or 'not installed'}; {args.threads} threads.")
    print(f"Load average (1/5/15 min) before {results['load_before']}, after {results['load_after']}; "
          f"took {results['seconds']:.0f} s.\n")
    if "compile" in results:
        print("## Compile time, whole process (median)\n")
        print(compile_table(results["compile"]) + "\n")
        notes = {k: r.get("dynamo_note") for k, r in results["compile"].items() if r.get("dynamo_note")}
        if notes:
            print("Dynamo column: " + "; ".join(f"{k}: {n}" for k, n in notes.items()) + "\n")
    if "memory" in results:
        print("## Peak memory compiling VGG-16\n")
        print(memory_table(results["memory"]) + "\n")
    if "infer" in results:
        print(f"## Inference latency on the CPU (median, {args.threads} threads)\n")
        print(infer_table(results["infer"]) + "\n")
        diff = ops_lines(results["infer"])
        if diff:
            print("Operators after onnxruntime's optimizations where the graphs differ (nnd vs torch):\n")
            print("\n".join(diff) + "\n")
        c = results["cuda"]
        if c["available"]:
            print("## Inference latency on CUDA (median)\n")
            print(infer_table(results["infer_cuda"]) + "\n")
        else:
            print(f"CUDA: not measured ({c['reason']}).\n")
    if "session" in results:
        print("## Session creation\n")
        print(session_table(results["session"]) + "\n")
    t = targets(results)
    if t:
        print("## Targets\n")
        print("\n".join(t) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
