"""The trained docTR pair that ships with ocrdoctor: where its files are, and its sample pages.

Trained by `tools/train_fixtures.py` on printed digits and lower-case words (the figures it
reached are in `data/pair/held_out.json`). It reads, so a change that keeps its words is proven,
not assumed: `ocrdoctor compare`, the demo and the tests use it.
"""

from __future__ import annotations

import json
from pathlib import Path

PAIR = Path(__file__).resolve().parent.parent / "data" / "pair"
DET_ARCH, RECO_ARCH = "db_mobilenet_v3_large", "crnn_mobilenet_v3_small"
PAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def trained_pair() -> tuple[Path, str, Path, str]:
    """(det_path, det_arch, reco_path, reco_arch): float16 safetensors, their config in the metadata."""
    return PAIR / "det.safetensors", DET_ARCH, PAIR / "reco.safetensors", RECO_ARCH


def sample_pages() -> list[Path]:
    """Pages rendered by other code than the training's (tools/render_samples.py), never trained on."""
    return sorted((PAIR / "samples").glob("page-*.png"))


def sample_words() -> list[Path]:
    """Word crops from the same renderer: what a recognizer alone is proven on."""
    return sorted((PAIR / "samples").glob("word-*.png"))


def truth() -> dict[str, dict]:
    """The words rendered on each sample page and crop, by file name."""
    return json.loads((PAIR / "samples" / "truth.json").read_text())


def held_out() -> dict:
    """The held-out figures the pair shipped with (test seeds, through docTR's own predictors)."""
    return json.loads((PAIR / "held_out.json").read_text())
