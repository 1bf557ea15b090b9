"""Wall-clock timing shared by the benchmarks that report their own medians (valid with --benchmark-disable)."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, runs: int = 60) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)
