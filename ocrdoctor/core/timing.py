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

    def overlaps(self, other: Spread) -> bool:
        """True when the range of ratios over the runs holds 1.00x: no measurable difference."""
        low, high = self.ratio_range(other)
        return low <= 1.0 <= high


def mean_spread(spreads: list[Spread]) -> Spread:
    """The mean of several spreads, end by end: a time per page over pages each timed alone."""
    n = len(spreads)
    return Spread(sum(s.fastest for s in spreads) / n, sum(s.median for s in spreads) / n,
                  sum(s.slowest for s in spreads) / n)


def speed_change(before: Spread, after: Spread) -> str:
    """`after` against `before`, in words a reader cannot over-read: "1.21x faster (1.05x-1.40x over the runs)",
    "1.30x slower (...)", or "no measurable difference" when the runs' range of ratios holds 1.00x."""
    low, high = before.ratio_range(after)
    if before.overlaps(after):
        return f"no measurable difference ({low:.2f}x-{high:.2f}x over the runs)"
    ratio = before.median / after.median
    if ratio >= 1.0:
        return f"{ratio:.2f}x faster ({low:.2f}x-{high:.2f}x over the runs)"
    return f"{1 / ratio:.2f}x slower ({1 / high:.2f}x-{1 / low:.2f}x over the runs)"


def milliseconds(spread: Spread) -> str:
    """"352 ms (340-360)": the median with the fastest and slowest run."""
    return f"{spread.median * 1e3:.0f} ms ({spread.fastest * 1e3:.0f}-{spread.slowest * 1e3:.0f})"


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
