"""fp32 against int8 (onnxruntime static quantization, QDQ, per-channel
weights, minmax calibration): latency at batch 1 and 8, measured interleaved
in one run, and the int8 model's agreement with the fp32 one on held-out
inputs. The same path as `nndc compile --quantize int8 --calibrate ...`.

LeNet-5 is trained for a few seconds with torch on a synthetic 10-class task
(a faint fixed random template per class under noise), so its accuracy drop is
measured on real-ish data; the ResNets and VGG-16 have nnd's random initial
weights and random calibration inputs (agreement, not accuracy). MobileNetV2
(std.mobilenet) has torchvision's random initialization with BatchNorm
statistics from a few training-mode passes over random inputs: with identity
BatchNorms its ReLU6 activations saturate and every input gives the same
logits, which would leave nothing to agree on. Needs the `test` extra
(torchvision) for it; `--skip mobilenetv2` runs without.

    python benchmarks/quantize.py [--skip vgg16] [--rounds R] [--calib N]

--skip takes a model's first word, lower case, without hyphens: lenet5,
resnet18, resnet50, vgg16, mobilenetv2 (repeat it to skip several).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from models import lenet5_nnd, resnet50_nnd, vgg16_nnd  # noqa: E402


def synthetic(n: int, seed: int):
    """Faint class templates (amplitude 0.25) under unit noise: hard enough
    that LeNet-5 reaches about 90%, so an accuracy drop can show."""
    templates = np.random.default_rng(0).standard_normal((10, 1, 32, 32)).astype(np.float32)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    return (0.25 * templates[y] + rng.standard_normal((n, 1, 32, 32))).astype(np.float32), y


def train_lenet(path: str) -> float:
    """Train LeNet-5 on the synthetic task; save its weights to `path`; return seconds."""
    import torch
    from tests.torch_models import lenet5
    t = time.perf_counter()
    torch.set_num_threads(1)   # a small network: more threads only contend on a shared machine
    torch.manual_seed(0)
    net = lenet5()
    x, y = synthetic(4096, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(300):
        i = slice((step * 64) % 4096, (step * 64) % 4096 + 64)
        loss = torch.nn.functional.nll_loss(torch.log(net(xt[i]) + 1e-9), yt[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    np.savez(path, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    return time.perf_counter() - t


def mobilenet_v2_weights(path: str) -> float:
    """torchvision's MobileNetV2, random, its BatchNorm statistics the
    cumulative average of 4 training-mode passes of 8 random inputs; saves
    the state_dict to `path`; returns seconds."""
    import torch
    from tv import torchvision
    t = time.perf_counter()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torchvision().models.mobilenet_v2()
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None   # cumulative average over the passes
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.randn(8, 3, 224, 224))
    np.savez(path, **{k: v.detach().numpy() for k, v in net.eval().state_dict().items()})
    return time.perf_counter() - t


def session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip", action="append", default=[], help="a model to leave out (e.g. vgg16)")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds of 5 runs per model and batch")
    ap.add_argument("--calib", type=int, default=40, help="calibration samples (a quarter held out)")
    args = ap.parse_args()
    if args.calib < 8:
        ap.error("--calib must be at least 8 (batch 8 is timed on calibration samples)")

    import tempfile

    import onnxruntime as ort

    import nnd
    from nnd.runtime.compare import interleaved
    from nnd.runtime.quantize import calibration_data, compare, quantize

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; onnxruntime {ort.__version__}; load before "
          f"{' / '.join(f'{x:.2f}' for x in load0)}\n")
    tmp = tempfile.mkdtemp(prefix="nnd-qbench-")
    sources = {
        "LeNet-5 (trained)": dict(text=lenet5_nnd()),
        "ResNet-18": dict(text="import std.resnet\nmodel R = ResNet18\n"),
        "ResNet-50": dict(text=resnet50_nnd()),
        "VGG-16": dict(text=vgg16_nnd()),
        "MobileNetV2": dict(text="import std.mobilenet\nmodel M = MobileNetV2\n"),
    }
    rows, notes = [], []
    for name, kw in sources.items():
        if name.split()[0].lower().replace("-", "") in args.skip:
            notes.append(f"{name}: skipped (--skip)")
            continue
        if name.startswith("LeNet"):
            w = os.path.join(tmp, "lenet.npz")
            secs = train_lenet(w)
            kw = dict(kw, weights=w)
            notes.append(f"LeNet-5 trained in {secs:.1f} s (300 steps of 64)")
        if name.startswith("MobileNet"):
            w = os.path.join(tmp, "mobilenet_v2.npz")
            secs = mobilenet_v2_weights(w)
            kw = dict(kw, weights=w)
            notes.append(f"MobileNetV2: torchvision's random weights, BatchNorm statistics from 4 training-mode "
                         f"passes of 8 random inputs ({secs:.1f} s)")
        m = nnd.compile(**kw)
        if name.startswith("LeNet"):
            x, _ = synthetic(args.calib, 2)
            np.savez(os.path.join(tmp, "calib.npz"), image=x)
            samples, how = calibration_data(os.path.join(tmp, "calib.npz"), m)
        else:
            samples, how = calibration_data(f"random:{args.calib}", m)
        tq = time.perf_counter()
        q, rep = quantize(m, samples, "minmax", how)
        tq = time.perf_counter() - tq
        ag = rep.agreement[0]
        fs, qs = session(m), session(q)
        inp = fs.get_inputs()[0].name
        lat = {}
        for batch in (1, 8):
            feed = {inp: np.concatenate([s[inp] for s in samples[:batch]])}
            la, lb = interleaved(lambda: fs.run(None, feed), lambda: qs.run(None, feed), rounds=args.rounds)
            lat[batch] = (float(np.median(la)) * 1e3, float(np.median(lb)) * 1e3)
        acc = ""
        if name.startswith("LeNet"):
            x, y = synthetic(2000, 3)
            pf, pq = fs.run(None, {inp: x})[0], qs.run(None, {inp: x})[0]
            a = compare("probs", pf, pq)
            acc = (f"accuracy fp32 {100 * (pf.argmax(1) == y).mean():.1f}%, int8 {100 * (pq.argmax(1) == y).mean():.1f}% "
                   f"on 2,000 fresh samples (top-1 agreement {100 * a.top1:.1f}%)")
            notes.append(f"LeNet-5: {acc}")
        rows.append((name, lat, ag, rep, tq))
        print(f"  {name}: done (quantization {tq:.1f} s)", file=sys.stderr)

    print("| model | fp32 b1 ms | int8 b1 ms | ratio b1 | fp32 b8 ms | int8 b8 ms | ratio b8 | size fp32 -> int8 "
          "| held out | max rel err | mean rel err | cosine (lowest) | top-1 agree |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, lat, ag, rep, _ in rows:
        r1, r8 = lat[1][1] / lat[1][0], lat[8][1] / lat[8][0]
        print(f"| {name} | {lat[1][0]:.2f} | {lat[1][1]:.2f} | {r1:.2f}x | {lat[8][0]:.2f} | {lat[8][1]:.2f} | "
              f"{r8:.2f}x | {rep.size_before / 1e6:.1f} MB -> {rep.size_after / 1e6:.1f} MB | {ag.samples} | "
              f"{ag.max_rel:.4f} | {ag.mean_rel:.4f} | {ag.cosine:.5f} | "
              f"{'n/a' if ag.top1 is None else f'{100 * ag.top1:.0f}%'} |")
    print()
    for n in notes:
        print(f"- {n}")
    for name, _, _, rep, tq in rows:
        fl = sorted({op for _, op, _ in rep.float_nodes})
        print(f"- {name}: quantized in {tq:.1f} s; left float: {', '.join(fl) if fl else 'none'}")
    load1 = os.getloadavg()
    print(f"\nLoad after {' / '.join(f'{x:.2f}' for x in load1)}; took {time.perf_counter() - t0:.0f} s; "
          f"{args.rounds} rounds of 5 runs per model and batch, interleaved, order alternating.")


if __name__ == "__main__":
    main()
