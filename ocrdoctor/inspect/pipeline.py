"""What sits around a live predictor's weights: the detection post-processor's thresholds against the
architecture's own (OD215), and the docTR features in use that a release is known to break (OD216)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

THRESHOLDS = ("bin_thresh", "box_thresh", "unclip_ratio")
KNOWN_BAD = Path(__file__).resolve().parent.parent / "data" / "known_bad_releases.json"


@dataclass(frozen=True)
class PostProcessing:
    path: str  # "predictor.det_predictor.model.postprocessor"
    arch: str  # the post-processor's class: DBPostProcessor, FASTPostProcessor, LinkNetPostProcessor
    values: dict[str, float]  # as set on the predictor
    defaults: dict[str, float]  # the architecture's, in the installed docTR (a fresh post-processor's)
    trained: dict[str, float]  # what a training config stored in the model's cfg says


def postprocessing(model: Any, path: str) -> PostProcessing | None:
    """The detection post-processor's thresholds, or None for a model without docTR's post-processor."""
    post = getattr(model, "postprocessor", None)
    if post is None or not all(isinstance(getattr(post, k, None), (int, float)) for k in THRESHOLDS):
        return None
    try:
        fresh = type(post)()
    except TypeError:  # a post-processor of the team's own that needs arguments: no architecture values
        return None
    cfg = getattr(model, "cfg", None)
    trained = {k: float(cfg[k]) for k in THRESHOLDS if isinstance(cfg, dict) and isinstance(cfg.get(k), (int, float))}
    values = {k: float(getattr(post, k)) for k in THRESHOLDS}
    return PostProcessing(f"{path}.postprocessor", type(post).__name__, values,
                          {k: float(getattr(fresh, k)) for k in THRESHOLDS}, trained)


def features(obj: Any, models: list[Any]) -> tuple[str, ...]:
    """The docTR features a predictor uses that the known-bad table names."""
    used = []
    if getattr(obj, "straighten_pages", False) is True:
        used.append("straighten_pages")
    if any(type(m).__name__ == "OptimizedModule" or hasattr(m, "_orig_mod") for m in models):
        used.append("torch.compile")
    return tuple(used)


@dataclass(frozen=True)
class KnownBad:
    feature: str
    bad: str
    fixed: tuple[int, ...]
    thread: str
    fix: str

    @property
    def fixed_text(self) -> str:
        return ".".join(map(str, self.fixed))


@cache
def known_bad() -> tuple[KnownBad, ...]:
    rows = json.loads(KNOWN_BAD.read_text(encoding="utf-8"))["rows"]
    return tuple(KnownBad(r["feature"], r["bad"], tuple(int(p) for p in r["fixed"].split(".")), r["thread"], r["fix"])
                 for r in rows)
