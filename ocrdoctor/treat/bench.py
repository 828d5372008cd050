"""`ocrdoctor bench`: the predictor as given, then after each applicable fix, on the same pages.

The workload is fixed so that every row does the same work: for each synthetic page, the
detection model on the pre-processed page and the recognition model on a fixed number of
word crops (a page of a real document has a few hundred words). Models run in docTR's export
mode (raw logits), so eager PyTorch and ONNX Runtime compute the same thing, and the
post-processing, identical in every row, is left out. Fixes are applied one after another
(a ladder): each row's "step" is what that fix alone gained, "total" what all fixes so far
gained, against the predictor as given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..anatomy.halfcpu import on_this_cpu
from ..anatomy.versions import FAST_FUSION_UNSOUND, fast_fusion_sound
from ..core.timing import Spread, spread_seconds
from ..inspect.model import NotAModel, fast_unfused, inspect_model, model_parts
from .rungs import Workload, eager, holders, onnx_reason, onnx_runtime
from .stages import StageTimes, no_measurable_difference, stage_times
from .stages import header as stage_header


@dataclass(frozen=True)
class Row:
    variant: str
    seconds_per_page: float     # the median
    speedup: float = 1.0        # against "as given": the product of the measurable steps so far
    step: float = 1.0           # against the row before, medians
    fastest: float = 0.0        # seconds per page of the fastest and slowest timed run
    slowest: float = 0.0
    step_range: tuple[float, float] = (1.0, 1.0)  # the step at worst and at best, from both rows' spreads
    words_same: int | None = None  # the sample pages' words read as by the row before (None: not read)
    words_total: int | None = None
    words_changed: tuple[str, ...] = ()

    @property
    def pages_per_second(self) -> float:
        return 1.0 / self.seconds_per_page if self.seconds_per_page else 0.0

    @property
    def measurable(self) -> bool:
        """False when the spread of the step includes 1.0x: no measurable change, left out of the total."""
        low, high = self.step_range
        return not low <= 1.0 <= high

    @property
    def reads_differently(self) -> bool:
        return self.words_same is not None and (self.words_same != self.words_total or bool(self.words_changed))

    def words(self, first: bool) -> str:
        if self.words_total is None:
            return "-"
        if first:
            return f"{self.words_total} read"
        return f"{self.words_same}/{self.words_total}" + (" !" if self.reads_differently else "")

    def line(self, first: bool) -> str:
        step = f"{self.step:>6.2f}x" + (" " if self.measurable or first else "~")
        return (f"{self.variant:<34} {self.pages_per_second:>8.2f} {self.seconds_per_page * 1e3:>9.0f} "
                f"{self.fastest * 1e3:>6.0f}-{self.slowest * 1e3:<6.0f} {step} {self.speedup:>6.2f}x"
                f" {self.words(first):>10}").rstrip()


@dataclass(frozen=True)
class BenchResult:
    predictor: str
    device: str
    pages: int
    words_per_page: int
    repeat: int
    rows: tuple[Row, ...]
    skipped: tuple[str, ...]   # fixes that did not apply, and why
    pipeline: tuple[Row, ...] = ()  # the whole predictor on the pages, then with each costly page option off
    read_on: str = ""          # what each row read ("3 sample pages"), empty when nothing was read
    stages: tuple[StageTimes, ...] = ()  # the whole predictor stage by stage on the sample pages, before and after

    def to_dict(self) -> dict:
        data = asdict(self)
        data["version"] = 1
        data["stages"] = [{"label": s.label, "seconds_per_page": s.seconds, "total": s.total.median,
                           "total_fastest": s.total.fastest, "total_slowest": s.total.slowest,
                           "boxes_per_page": s.boxes_per_page} for s in self.stages]
        for rows, raws in ((self.rows, data["rows"]), (self.pipeline, data["pipeline"])):
            for row, raw in zip(rows, raws, strict=False):
                raw["pages_per_second"] = row.pages_per_second
                raw["measurable"] = row.measurable
                raw["reads_differently"] = row.reads_differently
        return data

    @property
    def changed_text(self) -> tuple[Row, ...]:
        """The steps after which the sample pages read differently from the row before."""
        return tuple(r for r in self.rows[1:] if r.reads_differently)

    def table(self) -> str:
        work = [f"{self.pages} synthetic page(s)", f"{self.words_per_page} word crops per page"]
        header = (f"{'variant':<34} {'pages/s':>8} {'ms/page':>9} {'min-max':>13} {'step':>7} {'total':>7}"
                  f" {'words':>10}")
        if self.predictor == "DetectionPredictor":
            work = work[:1]
        elif self.predictor == "RecognitionPredictor":
            work = [f"{self.pages * self.words_per_page} word crops"]
        lines = [f"{self.predictor} on {self.device}: {', '.join(work)}, median of {self.repeat}", header]
        lines += [r.line(i == 0) for i, r in enumerate(self.rows)]
        if any(not r.measurable for r in self.rows[1:]):
            lines.append("~ no measurable change (the runs' spread includes 1.00x): not counted in the total")
        if self.read_on:
            lines.append(f"words: the {self.read_on} read after each step, against the row before")
        elif self.predictor == "DetectionPredictor" and self.rows and self.rows[0].words_total is None:
            lines.append("words: a detector alone reads none (ocrdoctor compare checks the boxes it finds)")
        for r in self.changed_text:
            lines.append(f"{r.variant} changed the words read: {'; '.join(r.words_changed[:3])}"
                         + ("" if r.words_changed else f" ({r.words_same}/{r.words_total} the same)")
                         + EXPECTED_CHANGE.get(r.variant, ""))
        lines += [f"not applicable: {s}" for s in self.skipped]
        if self.pipeline:
            lines += ["",
                      f"page options (OD212): the whole predictor on the same {self.pages} page(s), median of "
                      f"{self.repeat}",
                      header]
            lines += [r.line(i == 0) for i, r in enumerate(self.pipeline)]
        if self.stages:
            lines += ["", f"stage by stage: the whole predictor on the {self.read_on}, median of {self.repeat} "
                          "(recognition includes its crops' pre-processing; boxes: words found per page)",
                      stage_header(), *[s.line() for s in self.stages]]
            if len(self.stages) == 2 and no_measurable_difference(*self.stages):
                lines.append("as given and after the fixes: no measurable difference in total (the runs' spreads "
                             "overlap)")
        return "\n".join(lines)


EXPECTED_CHANGE = {"+ eval mode": " (expected: in training mode, BatchNorm and Dropout read with the batch's "
                                   "statistics; the row before was the wrong reading)"}


def next_row(name: str, spread: Spread, rows: list[Row]) -> Row:
    """A ladder row: its step against the row before; the total multiplies only measurable steps."""
    if not rows:
        return Row(name, spread.median, fastest=spread.fastest, slowest=spread.slowest)
    before = rows[-1]
    previous = Spread(before.fastest, before.seconds_per_page, before.slowest)
    row = Row(name, spread.median, step=before.seconds_per_page / spread.median, fastest=spread.fastest,
              slowest=spread.slowest, step_range=previous.ratio_range(spread))
    total = before.speedup * row.step if row.measurable else before.speedup
    return replace(row, speedup=total)


def bench(predictor: Any, *, pages: int = 1, words: int = 150, repeat: int = 3, onnx: bool = True,
          read: bool = True, progress: Callable[[str, int], None] | None = None) -> BenchResult:
    """Time `predictor` (a docTR OCRPredictor) as given, then after each fix that applies, in place.

    With `read`, each row also reads the trained pair's sample pages through the whole predictor
    (outside the timing) and counts the words read as by the row before: a step that changes the
    text is flagged. `progress(name, total)` is called before each timed variant.
    """
    import torch

    if not holders(predictor):
        raise NotAModel("ocrdoctor bench times a docTR OCRPredictor, DetectionPredictor or RecognitionPredictor, "
                        f"got {type(predictor).__name__}")
    facts = inspect_model(predictor)
    work = Workload.build(predictor, pages, words)
    rows: list[Row] = []
    threads = torch.get_num_threads()
    pipeline, failed = _page_option_rows(predictor, facts, pages, repeat, torch)  # before any fix changes it
    stages = [_stages(predictor, "as given", repeat, torch)] if read else []
    readings: list[Any] = []
    try:
        steps = list(_steps(predictor, facts, torch, onnx))  # applicability is judged on the predictor as given
        skipped = [f"{name} ({reason})" for name, _, reason in steps if reason] + failed
        for name, apply, reason in steps:
            if reason:
                continue
            if progress:
                progress(name, len(steps) - len(skipped))
            with apply() as runner:
                spread = spread_seconds(lambda: runner.time(work), repeat, sync=_sync(torch)) / pages
                reading = runner.read() if read else None
            rows.append(with_words(next_row(name, spread, rows), readings[-1] if readings else None, reading))
            readings.append(reading)
        if read:
            stages.append(_stages(predictor, "after the fixes", repeat, torch))
    finally:
        torch.set_num_threads(threads)  # a process-wide setting: leave it as found
    device = ", ".join(sorted({d for c in facts.components for d in c.devices}))
    read_on = f"{len(readings[0].pages)} {readings[0].label}" if readings and readings[0] is not None else ""
    return BenchResult(facts.target, device, pages, words, repeat, tuple(rows), tuple(skipped), pipeline, read_on,
                       tuple(s for s in stages if s is not None))


def _stages(predictor: Any, label: str, repeat: int, torch: Any) -> StageTimes | None:
    """The whole predictor stage by stage on the sample pages; None for half a predictor or one that fails."""
    from .pages import load_pages

    try:
        return stage_times(predictor, [p.image for p in load_pages(None)], label, repeat, torch)
    except (RuntimeError, ValueError, TypeError, NotImplementedError):  # measured by the ladder's rows instead
        return None


def with_words(row: Row, before: Any, after: Any) -> Row:
    """The row with its words read: all of them for the first row, the same as the row before for the others."""
    from .proof import readings_proof

    if after is None:
        return row
    if before is None:
        total = sum(len(p.words) for p in after.pages)
        return replace(row, words_same=total, words_total=total)
    proof = readings_proof(before, after)
    return replace(row, words_same=proof.same, words_total=proof.total, words_changed=proof.differences)


def _ladder(variants: list[tuple[str, Callable[[], Any]]], timed: Callable[[], Spread]) -> tuple[Row, ...]:
    """Apply each change in turn and time after each: one row per variant, against the first and the previous."""
    rows: list[Row] = []
    for name, change in variants:
        change()
        rows.append(next_row(name, timed(), rows))
    return tuple(rows)


PAGE_OPTION_STATE = ("straighten_pages", "detect_orientation", "crop_orientation_predictor")


def _page_option_rows(predictor: Any, facts: Any, pages: int, repeat: int, torch: Any
                      ) -> tuple[tuple[Row, ...], list[str]]:
    """The whole predictor on synthetic pages, then with each costly page option turned off by the
    very statement OD212 prints; the options are restored afterwards. A predictor that fails on the
    pages (docTR 0.8 fails on a page without words when assume_straight_pages=False) gets a reason."""
    if not facts.page_options:
        return (), []
    from .samples import text_page

    images = [text_page(i) for i in range(pages)]
    saved = {name: getattr(predictor, name, None) for name in PAGE_OPTION_STATE}
    variants = [("as given", lambda: None)]
    variants += [(f"- {o.name}", (lambda o=o: o.apply(predictor))) for o in facts.page_options]

    def timed() -> Spread:
        with torch.inference_mode():
            return spread_seconds(lambda: predictor(images), repeat, sync=_sync(torch)) / pages

    try:
        return _ladder(variants, timed), []
    except Exception as exc:  # the user's predictor failing is a measurement, not a crash of the bench
        from ..core.registry import one_line

        return (), [f"page options (the whole predictor fails on the sample pages: {one_line(exc)})"]
    finally:
        for name, value in saved.items():
            setattr(predictor, name, value)


def demo_predictor(det_arch: str = "fast_tiny", reco_arch: str = "crnn_mobilenet_v3_small", **options) -> Any:
    """docTR models with random weights (none can be downloaded here), BatchNorm calibrated on a sample page."""
    from doctr import models

    from ..specimens.models import calibrate_batchnorm, offline_ocr_predictor
    from .samples import text_page

    build = lambda arch: getattr(models, arch)(pretrained=False, pretrained_backbone=False)  # noqa: E731
    predictor = offline_ocr_predictor(build(det_arch), build(reco_arch), **options)
    calibrate_batchnorm(predictor.det_predictor.model, predictor.det_predictor.pre_processor([text_page(1)])[0])
    return predictor


Step = tuple[str, Callable[[], Any], str | None]


def _steps(predictor: Any, facts: Any, torch: Any, onnx: bool) -> Iterator[Step]:
    """(name, context manager factory yielding a runner, reason it does not apply) in ladder order."""
    as_is = lambda: eager(predictor, torch)  # noqa: E731
    yield "as given", as_is, None
    training = sum(len(c.training) for c in facts.components)
    yield "+ eval mode", _then(predictor.eval, as_is), None if training else "already in eval mode"
    dtypes = {d for c in facts.components for d in c.dtypes}
    yield ("+ float32", _then(lambda: predictor.to(torch.float32), as_is),
           None if "float64" in dtypes else "no float64 weights")
    unfused = [m for _, m, _, _ in model_parts(predictor, "predictor") if fast_unfused(m)]
    yield ("+ FAST reparameterized", _then(lambda: _fuse(unfused), as_is),
           "no unfused FAST model" if not unfused else None if fast_fusion_sound() else FAST_FUSION_UNSOUND)
    usable = _usable_cpus()
    on_cpu = all(d == "cpu" for c in facts.components for d in c.devices)
    threads = torch.get_num_threads()
    yield (f"+ torch.set_num_threads({usable})", _then(lambda: torch.set_num_threads(usable), as_is),
           None if on_cpu and threads > usable else f"{threads} thread(s) for {usable} usable CPU(s)")
    cuda = torch.cuda.is_available()
    yield "+ .cuda()", _then(lambda: predictor.cuda(),
                             as_is), None if cuda and on_cpu else "no CUDA GPU" if not cuda else "already on a GPU"
    yield "+ .half()", _then(lambda: predictor.half(), as_is), \
        None if cuda else "no CUDA GPU" + (f"; {slow}" if (slow := on_this_cpu("float16")) else "")
    yield "+ ONNX Runtime (float32 export)", lambda: onnx_runtime(predictor, torch), \
        onnx_reason() if onnx else "--no-onnx"


def _then(change: Callable[[], Any], runner: Callable[[], Any]) -> Callable[[], Any]:
    def enter():
        change()
        return runner()

    return enter


def _fuse(models: list) -> None:
    from ..anatomy.untrained import reparameterize_keeping_evidence

    for m in models:
        reparameterize_keeping_evidence(m)


def _usable_cpus() -> int:
    from ..inspect.environment import inspect_environment

    return inspect_environment().cpus_usable


def _sync(torch: Any) -> Callable[[], None] | None:
    return torch.cuda.synchronize if torch.cuda.is_available() else None
