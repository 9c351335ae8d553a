"""`nndc bench --compare A B`: two models timed interleaved in one run (blocks
of runs alternating, the order swapped every round, so that a change in the
machine's load falls on both), their latency ratio and output agreement.
"""

from __future__ import annotations

import json
import time

import numpy as np

from .bench import stats
from .inputs import UsageError

BLOCK = 5            # runs per model per round
TARGET_S = 6.0       # default: rounds until both together took about this long
MIN_ROUNDS = 4


def interleaved(run_a, run_b, rounds: int | None = None, warmup: int = 2, block: int = BLOCK) -> tuple:
    """Latencies (seconds) of run_a and run_b, timed in alternating blocks;
    rounds=None: at least MIN_ROUNDS, about TARGET_S seconds in all."""
    for _ in range(warmup):
        run_a()
        run_b()
    la, lb = [], []
    t0 = time.perf_counter()
    r = 0
    while (r < rounds) if rounds is not None else (r < MIN_ROUNDS or time.perf_counter() - t0 < TARGET_S):
        pair = ((run_a, la), (run_b, lb)) if r % 2 == 0 else ((run_b, lb), (run_a, la))
        for fn, lat in pair:
            for _ in range(block):
                s = time.perf_counter()
                fn()
                lat.append(time.perf_counter() - s)
        r += 1
        if r >= 10_000:
            break
    return la, lb


def _same_inputs(a, b) -> None:
    ia = {i.name: i for i in a.inputs}
    ib = {i.name: i for i in b.inputs}
    if set(ia) != set(ib):
        raise UsageError(f"the models' inputs differ: {', '.join(ia)} and {', '.join(ib)}; "
                         "--compare needs two models of the same inputs")
    for n in ia:
        if np.dtype(ia[n].dtype) != np.dtype(ib[n].dtype):
            raise UsageError(f"input `{n}` is {np.dtype(ia[n].dtype)} in one model and "
                             f"{np.dtype(ib[n].dtype)} in the other")


def compare(args, load, feeds_for) -> int:
    """The body of `nndc bench --compare`; `load(path)` gives a Model, `feeds_for(model)` its feeds."""
    from .quantize import compare as agree
    pa, pb = args.compare
    a, b = load(pa), load(pb)
    _same_inputs(a, b)
    feeds, how = feeds_for(a)
    feeds_b = b.feeds(feeds)
    batch = next(iter(feeds.values())).shape[0] if feeds and next(iter(feeds.values())).ndim else 1
    oa = a.session.run(None, feeds)
    ob = b.session.run(None, feeds_b)
    names_a = [o.name for o in a.outputs]
    names_b = [o.name for o in b.outputs]
    if names_a != names_b or any(np.shape(x) != np.shape(y) for x, y in zip(oa, ob)):
        raise UsageError(f"the models' outputs differ: {', '.join(names_a)} and {', '.join(names_b)} "
                         "(by name, order and shape)")
    ags = [agree(n, np.asarray(x, np.float64), np.asarray(y, np.float64)) for n, x, y in zip(names_a, oa, ob)
           if np.issubdtype(np.asarray(x).dtype, np.number)]
    rounds = None if args.runs is None else max(1, -(-args.runs // BLOCK))
    la, lb = interleaved(lambda: a.session.run(None, feeds), lambda: b.session.run(None, feeds_b),
                         rounds=rounds, warmup=2 if args.warmup is None else args.warmup)
    ra, rb = stats(la, batch), stats(lb, batch)
    ratio = rb.median_ms / ra.median_ms if ra.median_ms > 0 else float("inf")
    if args.format == "json":
        print(json.dumps({"a": pa, "b": pb, "device": a.info.device, "provider": a.info.provider,
                          "threads": args.threads, "batch": batch, "ratio_b_over_a": ratio,
                          "a_latency": ra.to_dict(), "b_latency": rb.to_dict(),
                          "agreement": [vars(g) for g in ags]}, indent=2))
        return 0
    w = max(len(pa), len(pb), len("model"))
    print(f"inputs  " + ", ".join(f"{k} {list(v.shape)}" for k, v in feeds.items()) + f"  {how}; "
          f"on {a.info.device} ({a.info.provider}); {ra.runs} runs each, interleaved in blocks of {BLOCK}")
    print(f"{'model':{w}}  {'median ms':>10}  {'p10 ms':>9}  {'p90 ms':>9}  {'samples/s':>10}  ratio")
    for p, r, x in ((pa, ra, "1.00x"), (pb, rb, f"{ratio:.2f}x")):
        print(f"{p:{w}}  {r.median_ms:>10.3f}  {r.p10_ms:>9.3f}  {r.p90_ms:>9.3f}  {r.throughput:>10.1f}  {x}")
    for g in ags:
        top1 = f"  top-1 {g.top1 * 100:.1f}%" if g.top1 is not None else ""
        print(f"output  {g.output}: max rel err {g.max_rel:.4g}  mean rel err {g.mean_rel:.4g}  "
              f"cosine {g.cosine:.6f}{top1}  (B against A)")
    return 0
