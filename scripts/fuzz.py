"""The long robustness run: many random programs and damaged ones through
`nndc check` (see tests/fuzzing.py for what is generated and asserted).

    python scripts/fuzz.py                 # 2000 of each kind
    python scripts/fuzz.py -n 20000 --seed 7
    python scripts/fuzz.py --kind arguments -n 20000 --keep-going

A failing input is shrunk by hypothesis and saved to fuzz-failure-*.nnd in
the current directory; the run exits 1. With --keep-going the run goes on
past failures and lists each distinct one (its exception and where it was
raised) with the shortest input that caused it. A case that runs past
--timeout seconds counts as a failure (a hang), one past 1 s as slow.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from fuzzing import arguments, check_input, mutated, program  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="cases of each kind")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kind", choices=("programs", "damaged", "arguments", "both", "all"), default="both",
                    help="both: programs and damaged; all: the three")
    ap.add_argument("--keep-going", action="store_true", help="list every distinct failure, do not stop")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a case counts as a hang")
    args = ap.parse_args()
    failures: dict = {}   # (kind, exception, where) -> the shortest input
    slow: list = []
    stats: collections.Counter = collections.Counter()
    slowest = [0.0, b""]
    tmp = tempfile.mkdtemp(prefix="nnd-fuzz-")
    failed = False
    kinds = (("programs", program().map(str.encode)), ("damaged", mutated()),
             ("arguments", arguments().map(str.encode)))
    for kind, strategy in kinds:
        if args.kind != kind and not (args.kind == "all" or (args.kind == "both" and kind != "arguments")):
            continue
        count = [0]

        @settings(max_examples=args.n, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(data):
            t = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, args.timeout)
            try:
                summary = check_input(data, tmp)
            except Exception as e:
                key = (kind, type(e).__name__, _where(e))
                if key not in failures or len(data) < len(failures[key][0]):
                    failures[key] = (data, str(e).split("\n")[0][:200])
                summary = {"codes": ["CRASH"]}
                if not args.keep_going:
                    raise
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            dt = time.perf_counter() - t
            if dt > 1.0:
                slow.append((dt, data))
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
    for (kind, exc, where), (data, msg) in sorted(failures.items()):
        failed = True
        print(f"FAILURE {kind}: {exc} at {where}: {msg}\n    " + data.decode("utf-8", "replace")
              .replace("\n", "\n    "))
    for dt, data in sorted(slow, key=lambda s: -s[0])[:10]:
        print(f"SLOW {dt:.1f} s:\n    " + data.decode("utf-8", "replace")[:300].replace("\n", "\n    "))
    print(f"slowest case: {slowest[0] * 1000:.0f} ms")
    if slowest[0] > 1.0:
        with open("fuzz-slowest.nnd", "wb") as f:
            f.write(slowest[1])
        print("  (saved as fuzz-slowest.nnd)")
    for k, v in stats.most_common(25):
        print(f"{v:6d}  {k}")
    return 1 if failed else 0


class Hang(Exception):
    """A case ran past --timeout."""


def _alarm(signum, frame):
    raise Hang("ran past the time limit")


def _where(e: BaseException) -> str:
    """The innermost frame in nnd's code where `e` was raised."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/compiler/" in f.filename]
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else "?"


signal.signal(signal.SIGALRM, _alarm)


if __name__ == "__main__":
    sys.exit(main())
