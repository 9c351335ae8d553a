"""Timing a model: warm-up, then runs, then median / p10 / p90 and throughput.

A progress bar goes to stderr, only when stderr is a terminal and the runs
are expected to take more than a second.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

MIN_RUNS = 10          # default number of runs: at least this many,
TARGET_S = 3.0         # and at least this much time,
MAX_RUNS = 10_000      # but never more than this
WARMUP_S = 0.5


@dataclass
class BenchResult:
    batch: int
    runs: int
    warmup: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput: float          # samples per second at the median latency
    latencies_ms: list = field(default_factory=list, repr=False)

    def to_dict(self, with_latencies: bool = False) -> dict:
        d = asdict(self)
        if not with_latencies:
            d.pop("latencies_ms")
        return d


def stats(latencies_s, batch: int, warmup: int = 0) -> BenchResult:
    a = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    med = float(np.median(a))
    return BenchResult(batch=batch, runs=len(a), warmup=warmup, median_ms=med,
                       p10_ms=float(np.percentile(a, 10)), p90_ms=float(np.percentile(a, 90)),
                       mean_ms=float(a.mean()), min_ms=float(a.min()), max_ms=float(a.max()),
                       throughput=batch * 1000.0 / med if med > 0 else float("inf"),
                       latencies_ms=[float(x) for x in a])


class Progress:
    """`runs 12/50 [######......] 41.2 ms` on one rewritten stderr line."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.last = 0.0

    def update(self, done: int, latest_s: float) -> None:
        now = time.perf_counter()
        if done < self.total and now - self.last < 0.1:
            return
        self.last = now
        fill = int(self.width * done / self.total)
        self.stream.write(f"\r  runs {done}/{self.total} [{'#' * fill}{'.' * (self.width - fill)}] "
                          f"{latest_s * 1000:.1f} ms ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * (self.width + 40) + "\r")
        self.stream.flush()


def _tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bench(run, batch: int = 1, runs: int | None = None, warmup: int | None = None,
          progress: bool | None = None, stream=None) -> BenchResult:
    """Time `run()` (one inference). runs=None: at least MIN_RUNS and about
    TARGET_S seconds. warmup=None: at least 2 runs and WARMUP_S seconds.
    progress=None: a bar when `stream` (stderr) is a terminal and the runs
    should take over a second."""
    if runs is not None and runs < 1:
        raise ValueError(f"runs must be at least 1; got {runs}")
    if warmup is not None and warmup < 0:
        raise ValueError(f"warmup must be 0 or more; got {warmup}")
    stream = stream or sys.stderr
    w, t0 = 0, time.perf_counter()
    last = 0.0
    while (w < warmup) if warmup is not None else (w < 2 or (time.perf_counter() - t0 < WARMUP_S and w < 50)):
        s = time.perf_counter()
        run()
        last = time.perf_counter() - s
        w += 1
    per = last if w else 0.0
    if runs is None:
        runs = MIN_RUNS if per <= 0 else int(min(MAX_RUNS, max(MIN_RUNS, TARGET_S / per)))
    if progress is None:
        progress = _tty(stream) and per * runs > 1.0
    bar = Progress(runs, stream) if progress else None
    lat = []
    try:
        for i in range(runs):
            s = time.perf_counter()
            run()
            lat.append(time.perf_counter() - s)
            if bar:
                bar.update(i + 1, lat[-1])
    finally:
        if bar:
            bar.close()
    return stats(lat, batch, w)
