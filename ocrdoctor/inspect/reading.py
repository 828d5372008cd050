"""What a deployment read on a set of pages (words, boxes, confidences, time), and its golden file.

A golden is the base's reading saved as JSON with the versions and the SHA-256 of each model file
and page, so CI can check a new model, export or upgrade against it without the old model. It is
plain data: loading one never runs anything, and a malformed one is a one-line GoldenError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.timing import Spread

GOLDEN_FORMAT = "ocrdoctor-golden"
GOLDEN_VERSION = 1
MAX_GOLDEN_BYTES = 256 << 20


class GoldenError(Exception):
    """The golden file cannot be used; one line, for the user."""


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple[float, float, float, float]  # relative xmin, ymin, xmax, ymax on the page
    confidence: float


@dataclass(frozen=True)
class PageReading:
    name: str
    sha256: str
    words: tuple[Word, ...]
    seconds: float = 0.0  # one run's, or the median of `spread`
    spread: Spread | None = None  # the timed runs' fastest, median and slowest (compare --repeat N, N >= 2)
    runs: int = 1

    @property
    def texts(self) -> list[str]:
        return [w.text for w in self.words]


@dataclass(frozen=True)
class Reading:
    """One side of a comparison: a live deployment's reading, or a golden's."""

    label: str
    pages: tuple[PageReading, ...]
    versions: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # det/reco -> path, arch, sha256
    golden: str | None = None  # the golden file this reading was loaded from

    def words(self) -> int:
        return sum(len(p.words) for p in self.pages)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": GOLDEN_FORMAT, "version": GOLDEN_VERSION,
            "versions": dict(self.versions), "models": {k: dict(v) for k, v in self.models.items()},
            "pages": [{"name": p.name, "sha256": p.sha256, "seconds": round(p.seconds, 4),
                       "words": [[w.text, [round(c, 5) for c in w.box], round(w.confidence, 5)] for w in p.words]}
                      for p in self.pages],
        }


def load_golden(path: Path) -> Reading:
    """The reading a golden file holds; anything else is a GoldenError naming what is wrong."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_GOLDEN_BYTES:
            raise GoldenError(f"{path}: {path.stat().st_size} bytes is not a golden (at most {MAX_GOLDEN_BYTES})")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoldenError(f"golden not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise GoldenError(f"{path}: not a golden reading ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != GOLDEN_FORMAT:
        raise GoldenError(f"{path}: not a golden reading (no \"format\": \"{GOLDEN_FORMAT}\"); "
                          "write one with `ocrdoctor compare --save-golden`")
    if data.get("version") != GOLDEN_VERSION:
        raise GoldenError(f"{path}: golden version {data.get('version')!r}, this ocrdoctor reads {GOLDEN_VERSION}")
    try:
        pages = tuple(_page(p) for p in data["pages"])
        return Reading(label=str(path), pages=pages, versions=_strings(data.get("versions", {})),
                       models={str(k): _strings(v) for k, v in dict(data.get("models", {})).items()},
                       golden=str(path))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise GoldenError(f"{path}: malformed golden ({type(exc).__name__}: {exc})") from None


def _page(raw: Mapping[str, Any]) -> PageReading:
    words = []
    for text, box, confidence in raw["words"]:
        box = tuple(float(c) for c in box)
        if len(box) != 4 or not all(math.isfinite(c) for c in box) or not isinstance(text, str):
            raise ValueError(f"bad word {text!r} on page {raw['name']!r}")
        words.append(Word(text, box, float(confidence)))
    return PageReading(str(raw["name"]), str(raw["sha256"]), tuple(words), float(raw.get("seconds", 0.0)))


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(mapping).items()}
