"""Repairs proven in words: the model before and after a change read the same sample pages or crops.

A recognizer alone reads the word crops shipped with the trained pair; a detector alone finds
boxes on its sample pages (a box kept is a box found again at IoU 0.5, both ways). With the
trained pair the words are real; with another model they are whatever it reads, and reading
the same is still the proof that the change kept the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.units import count
from ..inspect.comparison import DIFF_SHOWN, boxes_found
from ..inspect.truth import LITTLE, proves_little, shipped_truth

MIN_BOX_RECALL = 0.98


@dataclass(frozen=True)
class ReadingProof:
    """Before and after, on the same samples: words read the same, or boxes found again."""

    samples: str  # "24 word crops", "3 pages"
    unit: str  # "words" or "boxes"
    same: int
    total: int
    differences: tuple[str, ...] = ()
    recall: tuple[float, float] = (1.0, 1.0)  # boxes: before's found after, after's found before
    little: str | None = None  # why this proof proves little (the model before reads or finds almost nothing)

    @property
    def holds(self) -> bool:
        if self.unit == "boxes":
            return min(self.recall) >= MIN_BOX_RECALL
        return self.same == self.total and not self.differences  # a word added is a difference too

    def describe(self) -> str:
        return self._figures() + (f"; but {self.little}" if self.little else "")

    def _figures(self) -> str:
        if self.unit == "boxes":
            figures = (f"{self.recall[0]:.0%} of {count(self.total, 'box', 'boxes')} found again, "
                       f"{self.recall[1]:.0%} the other way")
            return f"{'finds the same boxes' if self.holds else 'finds other boxes'} on {self.samples}: {figures}"
        if self.holds:
            return f"reads the same on {self.samples}: {self.same}/{self.total} words"
        shown = "; ".join(self.differences[:DIFF_SHOWN])
        return f"reads differently on {self.samples}: {self.same}/{self.total} words the same ({shown})"


def task_of(model: Any) -> str:
    return "detection" if ".detection." in type(model).__module__ else "recognition"


def prove(before: Any, after: Any, twin: Any = None) -> ReadingProof:
    """`before` and `after` (docTR models, or an ONNX model from `onnxside` with `twin` for its pre-processing)
    on the pair's samples, through docTR's own predictors."""
    twin = twin if twin is not None else before
    if task_of(twin) == "detection":
        return _boxes(before, after, twin)
    return _words(before, after, twin)


def _words(before: Any, after: Any, twin: Any) -> ReadingProof:
    from ..specimens.pair import sample_words
    from .pages import load_pages

    loaded = load_pages(sample_words())
    crops = [p.image for p in loaded]
    a, b = (_predictor(m, twin, "recognition")(crops) for m in (before, after))
    texts_a, texts_b = [w for w, _ in a], [w for w, _ in b]
    differences = tuple(f"-{x!r} +{y!r}" for x, y in zip(texts_a, texts_b, strict=False) if x != y)
    same = len(texts_a) - len(differences)
    read = {p.name: [t] if t else [] for p, t in zip(loaded, texts_a, strict=False)}
    return ReadingProof(count(len(crops), "word crop"), "words", same, len(crops), differences,
                        little=proves_little(read, shipped_truth(), unit="word crop"))


def _boxes(before: Any, after: Any, twin: Any) -> ReadingProof:

    from ..specimens.pair import sample_pages
    from .pages import load_pages

    loaded = load_pages(sample_pages())
    pages = [p.image for p in loaded]
    a, b = ([_boxes_of(r) for r in _predictor(m, twin, "detection")(pages)] for m in (before, after))
    total = sum(len(x) for x in a)
    found = [boxes_found(x, y) * len(x) for x, y in zip(a, b, strict=False)]
    back = [boxes_found(y, x) * len(y) for x, y in zip(a, b, strict=False)]
    recall = (sum(found) / max(1, total), sum(back) / max(1, sum(len(y) for y in b)))
    return ReadingProof(count(len(pages), "page"), "boxes", round(sum(found)), total, recall=recall,
                        little=finds_little({p.name: len(x) for p, x in zip(loaded, a, strict=False)}))


def finds_little(boxes: dict[str, int]) -> str | None:
    """Why a proof in boxes proves little: fewer than one box per page, or fewer than a fifth of the words the
    pages hold (the samples' truth)."""
    truth = shipped_truth()
    total, words = sum(boxes.values()), sum(len(truth.pages.get(Path(name).name, ())) for name in boxes)
    if total < len(boxes) or (words and total < LITTLE * words):
        held = f" that hold {count(words, 'word')}" if words else ""
        return (f"the model before finds {count(total, 'box', 'boxes')} on {count(len(boxes), 'page')}{held}: "
                "finding the same proves little about a model that finds this little")
    return None


def _boxes_of(result: dict) -> Any:
    """A page's boxes of every class: docTR's detectors key them by class name ("words", or a KIE model's own)."""
    import numpy as np

    parts = [np.asarray(v, dtype=np.float32).reshape(-1, np.asarray(v).shape[-1] if np.asarray(v).size else 5)[:, :4]
             for v in result.values()]
    return np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.float32)


def _predictor(model: Any, twin: Any, task: str) -> Any:
    """docTR's predictor of the twin's configuration, holding `model`."""
    from doctr.models import detection_predictor, recognition_predictor

    predictor = (detection_predictor if task == "detection" else recognition_predictor)(twin)
    predictor.model = model.eval()
    return predictor


def read_samples(predictor: Any) -> Any:
    """A Reading of the pair's samples: an OCR predictor reads the sample pages, a recognition predictor
    the word crops (each crop a page of one word). None for a detector alone (no words), anything
    else, or a predictor that cannot read."""
    from .pages import load_pages, read_pages

    try:
        if hasattr(predictor, "det_predictor"):
            return read_pages(predictor, load_pages(None), "sample pages")
        if getattr(predictor, "model", None) is not None and task_of(predictor.model) == "recognition":
            return _read_crops(predictor)
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        return None
    return None


def _read_crops(predictor: Any) -> Any:
    from ..inspect.reading import PageReading, Reading, Word
    from ..specimens.pair import sample_words
    from .pages import load_pages

    crops = load_pages(sample_words())
    words = predictor([c.image for c in crops])
    whole = (0.0, 0.0, 1.0, 1.0)
    return Reading("sample word crops", tuple(PageReading(c.name, c.sha256, (Word(text, whole, float(conf)),), 0.0)
                                              for c, (text, conf) in zip(crops, words, strict=False)))


def readings_proof(before: Any, after: Any) -> ReadingProof:
    """Two readings of the same pages (from `read_samples`) as a proof in words."""
    from ..inspect.comparison import compare_pages

    pages = [compare_pages(a, b) for a, b in zip(before.pages, after.pages, strict=False)]
    differences = tuple(d for p in pages for d in p.diff(limit=10**6).split("; ") if d)
    little = proves_little({p.name: p.texts for p in before.pages}, shipped_truth())
    return ReadingProof(count(len(pages), "page"), "words", sum(p.same for p in pages), sum(p.words for p in pages),
                        differences, little=little)
