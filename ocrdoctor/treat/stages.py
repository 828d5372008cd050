"""Where a page's time goes in a whole docTR OCR predictor: pre-processing, detection, post-processing, crops,
recognition, with the boxes found per page.

The predictor runs as given on the trained pair's sample pages. Each stage is timed where docTR calls
it: torch's forward hooks on the detection model and the recognition predictor; for the detection
pre-processor (whose class defines `__call__`, so hooks never fire) and the post-processor (a plain
object), a timed stand-in for the run. Everything is put back after. Recognition's cost scales with the
boxes the detector finds, which the synthetic workload of `bench`'s ladder holds fixed: this shows both.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..core.timing import Spread

STAGES = ("pre-processing", "detection", "post-processing", "crops and assembly", "recognition")


@dataclass(frozen=True)
class StageTimes:
    label: str  # "as given", "after the fixes"
    seconds: dict[str, float]  # stage -> median seconds per page
    boxes_per_page: float
    total: Spread  # seconds per page of the whole call: fastest, median, slowest run

    def line(self) -> str:
        parts = "  ".join(f"{self.seconds[s] * 1e3:>9.0f}" for s in STAGES)
        spread = f"{self.total.fastest * 1e3:.0f}-{self.total.slowest * 1e3:.0f}"
        return f"{self.label:<18} {parts}  {self.total.median * 1e3:>8.0f}  {spread:>11}  {self.boxes_per_page:>6.1f}"


def header() -> str:
    names = ["pre-proc", "detection", "post-proc", "crops+", "recog."]
    return (f"{'ms/page':<18} " + "  ".join(f"{n:>9}" for n in names)
            + f"  {'total':>8}  {'min-max':>11}  {'boxes':>6}")


def no_measurable_difference(before: StageTimes, after: StageTimes) -> bool:
    """True when the whole call's spreads, as given and after the fixes, include the same time (1.00x)."""
    return before.total.overlaps(after.total)


class _Clock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)

    def timed(self, stage: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.spent[stage] += time.perf_counter() - start
        return run

    def hooked(self, module: Any, stage: str) -> contextlib.AbstractContextManager:
        """Time every call of a torch module into `stage`, with torch's own forward hooks (nothing replaced)."""
        started: list[float] = []

        def before(*_):
            started.append(time.perf_counter())

        def after(*_):
            self.spent[stage] += time.perf_counter() - started.pop()

        stack = contextlib.ExitStack()
        stack.callback(module.register_forward_pre_hook(before).remove)
        stack.callback(module.register_forward_hook(after).remove)
        return stack


class _Timed:
    """Stands in for a post-processor (a plain object docTR calls) for one run, timing every call."""

    def __init__(self, inner: Any, call: Callable[..., Any]) -> None:
        self._inner, self._call = inner, call

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def _call_timed(obj: Any, clock: _Clock, stage: str) -> Iterator[None]:
    """Time calls of an object whose class defines `__call__` itself (docTR's PreProcessor does, so forward hooks
    never fire): for the run, the object's class is a subclass whose `__call__` is timed; then it is put back."""
    cls = obj.__class__
    timed = clock.timed(stage, cls.__call__)
    obj.__class__ = type(cls.__name__, (cls,), {"__call__": lambda self, *a, **k: timed(self, *a, **k)})
    try:
        yield
    finally:
        obj.__class__ = cls


@contextlib.contextmanager
def _swapped(obj: Any, name: str, value: Any) -> Iterator[None]:
    """Set a plain attribute (a post-processor) for the run and put the original back."""
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


def stage_times(predictor: Any, pages: list, label: str, repeat: int = 3, torch: Any = None) -> StageTimes | None:
    """The median time per page of each stage over `repeat` runs of the whole predictor on `pages` (the whole
    call with its fastest and slowest run), or None for what is not a whole docTR OCR predictor."""
    det, reco = getattr(predictor, "det_predictor", None), getattr(predictor, "reco_predictor", None)
    if det is None or reco is None or not hasattr(det, "model") or not hasattr(det.model, "postprocessor"):
        return None
    runs: list[tuple[dict[str, float], float, int]] = []
    with torch.inference_mode():
        predictor(pages[:1])  # warm-up
        for _ in range(max(repeat, 1)):
            runs.append(_one_run(predictor, pages))
    per_page = len(pages)
    seconds = {s: statistics.median(r[0][s] for r in runs) / per_page for s in STAGES}
    totals = [r[1] for r in runs]
    total = Spread(min(totals), statistics.median(totals), max(totals)) / per_page
    return StageTimes(label, seconds, statistics.median(r[2] for r in runs) / per_page, total)


def _one_run(predictor: Any, pages: list) -> tuple[dict[str, float], float, int]:
    clock = _Clock()
    det, reco = predictor.det_predictor, predictor.reco_predictor
    post = det.model.postprocessor
    with contextlib.ExitStack() as stack:
        stack.enter_context(_call_timed(det.pre_processor, clock, "pre-processing"))
        stack.enter_context(clock.hooked(det.model, "detection"))
        stack.enter_context(clock.hooked(reco, "recognition"))
        stack.enter_context(_swapped(det.model, "postprocessor", _Timed(post, clock.timed("post-processing", post))))
        start = time.perf_counter()
        document = predictor(pages)
        total = time.perf_counter() - start
    spent = dict(clock.spent)
    spent["detection"] -= spent["post-processing"]  # the model's forward runs its post-processor
    spent["crops and assembly"] = max(0.0, total - sum(spent[s] for s in STAGES if s != "crops and assembly"))
    boxes = sum(len(w) for page in document.pages for b in page.blocks for line in b.lines for w in [line.words])
    return spent, total, boxes
