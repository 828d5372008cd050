"""Two readings of the same pages, compared page by page: the facts the OD6xx rules judge.

Edit distances come from rapidfuzz (docTR depends on it); pages are matched by the SHA-256 of
their content, so a golden recorded on `pages/a.png` still matches `ci/a.png`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.timing import Spread, milliseconds, speed_change
from .reading import PageReading, Reading

DIFF_SHOWN = 5  # changed words quoted in a message; the JSON facts hold them all
MAX_PAIRS = 20_000_000  # box pairs compared per page at most (a real page: a few thousand words squared)
CHUNK_PAIRS = 1_000_000  # per IoU block: about 50 MB of float64 intermediates


@dataclass(frozen=True)
class Tolerance:
    max_cer: float = 0.0
    max_wer: float = 0.0
    min_box_recall: float = 0.98

    def __post_init__(self) -> None:
        for name in ("max_cer", "max_wer", "min_box_recall"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (got {value})")


@dataclass(frozen=True)
class PageComparison:
    """One page read by both sides."""

    words: int  # the base's
    same: int  # base words read identically, in order
    cer: float
    wer: float
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, str], ...]
    base_boxes_found: float  # share of the base's boxes the candidate has (IoU >= 0.5)
    candidate_boxes_found: float  # and the other way round
    confidence_change: float  # mean candidate confidence minus the base's
    seconds_base: float
    seconds_candidate: float
    base_text: str
    candidate_text: str
    spread_base: Spread | None = None  # both set only when both sides were timed over several runs
    spread_candidate: Spread | None = None

    @property
    def timed(self) -> bool:
        return self.spread_base is not None and self.spread_candidate is not None

    def time_change(self) -> str:
        """"time 352 ms (340-360) -> 290 ms (281-300): 1.21x faster (...)", or "" when one run is all there is."""
        if not self.timed:
            return ""
        return (f"time {milliseconds(self.spread_base)} -> {milliseconds(self.spread_candidate)}: "
                f"{speed_change(self.spread_base, self.spread_candidate)}")

    def figures(self) -> str:
        """The page's figures in one line; its time only when measured over several runs (one run: JSON only)."""
        line = (f"{self.same}/{self.words} words the same, CER {self.cer:.3f}, WER {self.wer:.3f}, boxes found "
                f"{self.base_boxes_found:.0%}/{self.candidate_boxes_found:.0%}")
        return f"{line}, {self.time_change()}" if self.timed else line

    def diff(self, limit: int = DIFF_SHOWN) -> str:
        """The first differing words, as a diff: `-'abc' +'abd'`."""
        parts = [f"-{a!r} +{b!r}" for a, b in self.changed] + [f"-{w!r}" for w in self.removed] + \
                [f"+{w!r}" for w in self.added]
        more = len(parts) - limit
        return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class PageFacts:
    """A page of a comparison: both readings compared, or a page only one side has (a golden's)."""

    name: str
    tolerance: Tolerance
    comparison: PageComparison | None = None
    golden: str | None = None  # the golden file, when the base is one
    only_in: str | None = None  # "golden": recorded there, not given; "pages": given, not in the golden

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"page": self.name}
        if self.golden:
            out["golden"] = self.golden
        if self.only_in:
            out["only_in"] = self.only_in
        c = self.comparison
        if c is not None:
            out.update(
                words=c.words, same_words=c.same, cer=round(c.cer, 5), wer=round(c.wer, 5),
                added=list(c.added), removed=list(c.removed), changed=[list(p) for p in c.changed],
                box_recall={"base_found": round(c.base_boxes_found, 4),
                            "candidate_found": round(c.candidate_boxes_found, 4)},
                confidence_change=round(c.confidence_change, 5),
                seconds_per_page={"base": round(c.seconds_base, 4), "candidate": round(c.seconds_candidate, 4)},
                reading=c.figures(),
            )
            if c.timed:
                out["seconds_per_page_range"] = {
                    side: [round(s.fastest, 4), round(s.slowest, 4)]
                    for side, s in (("base", c.spread_base), ("candidate", c.spread_candidate))}
        return out


def compare_pages(base: PageReading, candidate: PageReading) -> PageComparison:
    from rapidfuzz.distance import Levenshtein

    a, b = base.texts, candidate.texts
    text_a, text_b = " ".join(a), " ".join(b)
    added, removed, changed, same = [], [], [], 0
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(a, b):
        if tag == "equal":
            same += i2 - i1
        elif tag == "delete":
            removed += a[i1:i2]
        elif tag == "insert":
            added += b[j1:j2]
        else:  # replace: pair them up, the rest added or removed
            pairs = min(i2 - i1, j2 - j1)
            changed += list(zip(a[i1:i1 + pairs], b[j1:j1 + pairs], strict=False))
            removed += a[i1 + pairs:i2]
            added += b[j1 + pairs:j2]
    boxes_a, boxes_b = _boxes(base), _boxes(candidate)
    return PageComparison(
        words=len(a), same=same,
        cer=Levenshtein.distance(text_a, text_b) / max(1, len(text_a)),
        wer=Levenshtein.distance(a, b) / max(1, len(a)),
        added=tuple(added), removed=tuple(removed), changed=tuple(changed),
        base_boxes_found=boxes_found(boxes_a, boxes_b), candidate_boxes_found=boxes_found(boxes_b, boxes_a),
        confidence_change=_mean_confidence(candidate) - _mean_confidence(base),
        seconds_base=base.seconds, seconds_candidate=candidate.seconds, base_text=text_a, candidate_text=text_b,
        spread_base=base.spread, spread_candidate=candidate.spread,
    )


def compare_readings(base: Reading, candidate: Reading, tolerance: Tolerance) -> list[PageFacts]:
    """Pages in the candidate's order; with a golden base, the pages only one side has are listed too."""
    by_hash = {p.sha256: p for p in base.pages}
    out = []
    for page in candidate.pages:
        match = by_hash.pop(page.sha256, None)
        if match is None:
            out.append(PageFacts(page.name, tolerance, golden=base.golden, only_in="pages"))
        else:
            out.append(PageFacts(page.name, tolerance, compare_pages(match, page), golden=base.golden))
    out += [PageFacts(p.name, tolerance, golden=base.golden, only_in="golden") for p in by_hash.values()]
    return out


def _boxes(page: PageReading) -> np.ndarray:
    return np.asarray([w.box for w in page.words], dtype=np.float64).reshape(-1, 4)


def boxes_found(truth: np.ndarray, found: np.ndarray, iou: float = 0.5) -> float:
    """The share of `truth` boxes overlapped by some `found` box at IoU >= `iou` (1.0 with none to find).

    Bounded: IoU rows are computed a chunk at a time, and a page of noise (a random detector finds tens of
    thousands of boxes) is measured on every k-th true box, so at most MAX_PAIRS pairs are ever compared.
    """
    if len(truth) == 0:
        return 1.0
    if len(found) == 0:
        return 0.0
    step = -(-len(truth) * len(found) // MAX_PAIRS)  # ceil: 1 on any real page
    rows = truth[::step]
    chunk = max(1, CHUNK_PAIRS // len(found))
    hits = sum(int((pairwise_iou(rows[i:i + chunk], found).max(axis=1) >= iou).sum())
               for i in range(0, len(rows), chunk))
    return hits / len(rows)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def _mean_confidence(page: PageReading) -> float:
    return float(np.mean([w.confidence for w in page.words])) if page.words else 0.0


def totals(pages: list[PageFacts]) -> Iterator[tuple[str, int]]:
    """('words', n), ('same', n) over the pages both sides read."""
    compared = [p.comparison for p in pages if p.comparison is not None]
    yield "pages", len(compared)
    yield "words", sum(c.words for c in compared)
    yield "same", sum(c.same for c in compared)
