"""Wall-clock timings: one warm-up call (lazy init, allocator, caches), then `repeat` timed calls."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spread:
    """The fastest, median and slowest of the timed calls, in seconds."""

    fastest: float
    median: float
    slowest: float

    def __truediv__(self, n: float) -> Spread:
        return Spread(self.fastest / n, self.median / n, self.slowest / n)

    def ratio_range(self, other: Spread) -> tuple[float, float]:
        """How many times faster `other` is than this, at worst and at best (other's slowest and fastest)."""
        return self.fastest / other.slowest, self.slowest / other.fastest


def spread_seconds(call: Callable[[], Any], repeat: int = 5, warmup: int = 1,
                   sync: Callable[[], None] | None = None) -> Spread:
    """`repeat` timed calls after `warmup` untimed ones; `sync` (e.g. torch.cuda.synchronize) ends each call."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        call()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return Spread(min(times), statistics.median(times), max(times))


def median_seconds(call: Callable[[], Any], repeat: int = 5, warmup: int = 1,
                   sync: Callable[[], None] | None = None) -> float:
    """The median of `repeat` timed calls."""
    return spread_seconds(call, repeat, warmup, sync).median
