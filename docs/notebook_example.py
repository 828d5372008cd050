"""Writes the real example table into docs/notebook.md (tests/test_docs.py checks it is current).

    python docs/notebook_example.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

START, END = "<!-- example:start -->", "<!-- example:end -->"
PAGE = Path(__file__).with_name("notebook.md")


def example_html() -> str:
    """The documented scenario: a custom predictor, fine-tuned, cast by hand, served on the CPU."""
    from doctr import models

    import ocrdoctor
    from ocrdoctor.checks.examples import doctr_model

    predictor = models.ocr_predictor(
        det_arch=doctr_model("db_mobilenet_v3_large"), reco_arch=doctr_model("crnn_mobilenet_v3_small"), pretrained=False
    )
    predictor.reco_predictor.model.train()  # left in training mode after fine-tuning
    predictor.det_predictor.model.feat_extractor.half()  # a half-done cast
    os.environ["OCRDOCTOR_CPU_FLAGS"] = "avx2"  # served on an AVX2 CPU host (not the machine that writes the docs)
    try:
        return ocrdoctor.diagnose(predictor, environment=False)._repr_html_()
    finally:
        del os.environ["OCRDOCTOR_CPU_FLAGS"]


def updated(page: str, html: str) -> str:
    return re.sub(f"{START}.*?{END}", lambda m: f"{START}\n{html}{END}", page, flags=re.S)


if __name__ == "__main__":
    PAGE.write_text(updated(PAGE.read_text(), example_html()))
