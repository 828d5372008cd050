"""Wall-clock medians: one warm-up call (lazy init, allocator, caches), then `repeat` timed calls."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def median_seconds(call: Callable[[], Any], repeat: int = 5, warmup: int = 1, sync: Callable[[], None] | None = None) -> float:
    """The median of `repeat` timed calls; `sync` (e.g. torch.cuda.synchronize) ends each timed call."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        call()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
