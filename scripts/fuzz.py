"""The long robustness run: many random programs and damaged ones through
`nndc check` (see tests/fuzzing.py for what is generated and asserted).

    python scripts/fuzz.py                 # 2000 of each kind
    python scripts/fuzz.py -n 20000 --seed 7

A failing input is shrunk by hypothesis and saved to fuzz-failure-*.nnd in
the current directory; the run exits 1.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from fuzzing import check_input, mutated, program  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="cases of each kind")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kind", choices=("programs", "damaged", "both"), default="both")
    args = ap.parse_args()
    stats: collections.Counter = collections.Counter()
    slowest = [0.0, b""]
    tmp = tempfile.mkdtemp(prefix="nnd-fuzz-")
    failed = False
    for kind, strategy in (("programs", program().map(str.encode)), ("damaged", mutated())):
        if args.kind not in (kind, "both"):
            continue
        count = [0]

        @settings(max_examples=args.n, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(data):
            t = time.perf_counter()
            summary = check_input(data, tmp)
            dt = time.perf_counter() - t
            if dt > slowest[0]:
                slowest[:] = [dt, data]
            count[0] += 1
            codes = summary["codes"]
            stats[kind + (": clean" if not codes else ": " + ",".join(sorted(set(codes))[:3]))] += 1

        if args.seed is not None:
            run = seed(args.seed)(run)
        t0 = time.perf_counter()
        try:
            run()
        except Exception as e:  # hypothesis has shrunk it; keep the input
            failed = True
            print(f"{kind}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"{kind}: {count[0]} cases in {time.perf_counter() - t0:.1f} s")
    print(f"slowest case: {slowest[0] * 1000:.0f} ms")
    if slowest[0] > 1.0:
        with open("fuzz-slowest.nnd", "wb") as f:
            f.write(slowest[1])
        print("  (saved as fuzz-slowest.nnd)")
    for k, v in stats.most_common(25):
        print(f"{v:6d}  {k}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
