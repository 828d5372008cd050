"""Does the candidate read what the base reads? Two deployments (or one and a golden) on the same pages.

Both read every page through docTR's own predictor; the words and boxes are compared page by page
(`inspect.comparison`) and judged by the OD6xx rules into a Report like `check`'s. The result
also carries both readings, per-page figures and a notebook view of them side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.engine import UsageError
from ..core.findings import Report
from ..core.plan import Plan
from ..core.timing import mean_spread, milliseconds, speed_change
from ..core.units import count
from ..inspect.comparison import PageFacts, Tolerance, compare_readings, totals
from ..inspect.reading import GoldenError, Reading, load_golden
from ..inspect.truth import Accuracy, Truth, TruthError, accuracy, load_truth, proves_little, shipped_truth
from .pages import Page, PageError, load_pages, read_pages

MAX_REPEAT = 100  # runs per page and side at most (`--repeat`)


class CompareError(UsageError):
    """The comparison cannot run (a page, a golden, a candidate that fails to read): exit 2."""


@dataclass(frozen=True, repr=False)
class Comparison:
    """What `compare` found: the Report (OD601-603), both readings and the per-page facts."""

    report: Report
    base: Reading
    candidate: Reading | None
    pages: tuple[PageFacts, ...] = ()
    saved: Path | None = None  # the golden written, if asked
    accuracy: Accuracy | None = None  # the base's own, where the pages' true text is known
    little: str | None = None  # why reading the same proves little here (the base reads almost nothing)
    page_images: dict = field(default_factory=dict, compare=False)  # page name -> the image read (the picture)

    @property
    def ok(self) -> bool:
        return self.report.exit_code() == 0

    def exit_code(self) -> int:
        return self.report.exit_code()

    @property
    def findings(self) -> list:
        return self.report.findings

    def verdict(self) -> str:
        """'reads the same on 3 pages: 212/212 words', or how it differs."""
        if self.candidate is None:
            return f"read {count(len(self.base.pages), 'page')}: {count(self.base.words(), 'word')}"
        figures = dict(totals(list(self.pages)))
        differ = sum(1 for p in self.pages if p.comparison and (p.comparison.same != p.comparison.words or
                                                                p.comparison.added))
        words = f"{figures['same']}/{figures['words']} words"
        if not differ:
            line = f"reads the same on {count(figures['pages'], 'page')}: {words}"
        else:
            line = f"reads differently on {differ} of {count(figures['pages'], 'page')}: {words} the same"
        return line + "".join(f"\n{x}" for x in [*self.time_lines(), *self.truth_lines()])

    def time_lines(self) -> list[str]:
        """Both sides' time per page over the pages (each page's median, averaged), when both were timed over
        several runs (`repeat`); nothing from one run, which is no measurement."""
        timed = [p.comparison for p in self.pages if p.comparison is not None]
        if not timed or not all(c.timed for c in timed):
            return []
        base, candidate = (mean_spread([getattr(c, side) for c in timed]) for side in ("spread_base",
                                                                                          "spread_candidate"))
        runs = min(p.runs for p in self.candidate.pages)
        return [f"time per page (median of {count(runs, 'run')}, averaged over {count(len(timed), 'page')}): "
                f"{milliseconds(base)} -> {milliseconds(candidate)}: {speed_change(base, candidate)}"]

    def truth_lines(self) -> list[str]:
        """The base's own accuracy where the truth is known, and a warning when the proof proves little."""
        lines = [f"the base: {self.accuracy.describe()}"] if self.accuracy is not None else []
        return lines + ([f"but {self.little}"] if self.little else [])

    def __str__(self) -> str:
        return f"{self.report}{self.verdict()}\n"

    __repr__ = __str__

    def _repr_html_(self) -> str | None:
        from ..core.views import view

        html = view("comparison-html")  # filled by `render`, which the package imports
        return html(self) if html else None


def compare(plan: Plan, base: Any, candidate: Any = None, pages: Iterable[str | Path] | None = None, *,
            max_cer: float = 0.0, max_wer: float = 0.0, min_box_recall: float = 0.98,
            save_golden: str | Path | None = None, truth: str | Path | None = None, repeat: int = 1) -> Comparison:
    """`ocrdoctor.compare` (api.py) under a plan. `base`: a docTR predictor, or a golden file's path; `candidate`:
    a docTR predictor (None only with `save_golden`, which writes the base's reading). `pages`: image files,
    PDFs, folders (None: the pages shipped with the trained pair, whose true text ships too). `truth`: JSON of
    page name to its text, for the base's own accuracy on the user's pages. `repeat`: runs per page and side;
    from 2, each side's time per page is their median with its spread (1: no time is shown)."""
    tolerance = _tolerance(max_cer, max_wer, min_box_recall)
    repeat = repeats(repeat)
    known = truth_of(truth, pages)
    loaded = page_set(pages)
    ours = base_reading(base, loaded, repeat)
    theirs = None if candidate is None else reading_of(candidate, loaded, "candidate", repeat=repeat)
    return judge(plan, ours, theirs, tolerance, save_golden=save_golden, truth=known, images=loaded)


def truth_of(truth: str | Path | None, pages: Any) -> Truth | None:
    """The truth named, else the shipped samples' when the pages are those samples, else None."""
    if truth is not None:
        try:
            return load_truth(truth)
        except TruthError as exc:
            raise CompareError(str(exc)) from None
    return shipped_truth() if not pages else None


def judge(plan: Plan, base: Reading, candidate: Reading | None, tolerance: Tolerance, *,
          save_golden: str | Path | None = None, truth: Truth | None = None, images: list[Page] = ()) -> Comparison:
    """The OD6xx rules over two readings, one target per page; the base's reading saved as a golden if asked."""
    if candidate is None and save_golden is None:
        raise CompareError("nothing to compare: give a candidate or a golden, or save the base's reading as a golden")
    saved = write_golden(base, Path(save_golden)) if save_golden is not None else None
    if candidate is None:
        return Comparison(plan.report(()), base, None, saved=saved)
    facts = compare_readings(base, candidate, tolerance)
    if not any(p.comparison for p in facts):
        held = ", ".join(p.name for p in base.pages[:3]) + (", ..." if len(base.pages) > 3 else "")
        raise CompareError(f"no page given was recorded in {base.golden or 'the base'}: nothing to compare "
                           f"(it holds {held})")
    read = {p.name: p.texts for p in base.pages}
    return Comparison(plan.check_gathered("comparison", facts), base, candidate, tuple(facts), saved,
                      accuracy(read, truth), proves_little(read, truth, who="the base"),
                      {p.name: p.image for p in images})


def write_golden(reading: Reading, path: Path) -> Path:
    """The reading as a golden, written atomically and read back before it replaces anything."""
    import json

    from .fix import FixError, write_atomically

    def verify(tmp: Path) -> None:
        try:
            load_golden(tmp)
        except GoldenError as exc:
            raise FixError(str(exc)) from None

    text = json.dumps(reading.to_json(), indent=1, ensure_ascii=False) + "\n"
    try:
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), verify)
    except FixError as exc:
        raise CompareError(str(exc)) from None
    return path


def _tolerance(max_cer: float, max_wer: float, min_box_recall: float) -> Tolerance:
    try:
        return Tolerance(float(max_cer), float(max_wer), float(min_box_recall))
    except (TypeError, ValueError) as exc:
        raise CompareError(str(exc)) from None


def page_set(pages: Iterable[str | Path] | str | Path | None) -> list[Page]:
    if isinstance(pages, (str, Path)):
        pages = [pages]
    try:
        return load_pages(pages)
    except PageError as exc:
        raise CompareError(str(exc)) from None


def repeats(repeat: Any) -> int:
    """The runs per page and side, 1 to MAX_REPEAT, or a CompareError."""
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
        raise CompareError(f"repeat must be a whole number from 1 to {MAX_REPEAT} (got {repeat!r})")
    return repeat


def base_reading(base: Any, pages: list[Page], repeat: int = 1) -> Reading:
    if isinstance(base, (str, Path)):
        try:
            return load_golden(Path(base))
        except GoldenError as exc:
            raise CompareError(str(exc)) from None
    return reading_of(base, pages, "base", repeat=repeat)


def reading_of(predictor: Any, pages: list[Page], label: str, models: dict | None = None,
               on_page: Callable[[], None] | None = None, repeat: int = 1) -> Reading:
    """A reading, or a CompareError saying which side failed and why (a float16 LSTM on a CPU, say)."""
    from ..core.registry import one_line

    if not callable(predictor) or not hasattr(predictor, "det_predictor"):
        raise CompareError(f"the {label} is not a docTR OCR predictor ({type(predictor).__name__})")
    try:
        return read_pages(predictor, pages, label, models=models, on_page=on_page, repeat=repeat)
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as exc:
        raise CompareError(f"the {label} failed to read the pages: {one_line(exc)}") from None


@dataclass(frozen=True)
class Options:
    """How the candidate differs from the base on the command line; a side not given is the base's."""

    det: Path | None = None
    det_arch: str | None = None
    reco: Path | None = None
    reco_arch: str | None = None
    dtype: str | None = None
    device: str = "cpu"
    extra: dict = field(default_factory=dict)
    reco_vocab: str | None = None  # --candidate-vocab (a candidate without one inherits the base's when it fits)
    base_vocab: str | None = None  # --vocab: the base recognizer's

    def given(self) -> bool:
        return any((self.det, self.det_arch, self.reco, self.reco_arch, self.dtype, self.device != "cpu",
                    self.reco_vocab))
