"""`bench`'s stage-by-stage table: where the whole predictor's time goes on the sample pages, and the boxes found."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("doctr")

from ocrdoctor.specimens.pair import truth  # noqa: E402
from ocrdoctor.treat.build import trained_predictor  # noqa: E402
from ocrdoctor.treat.pages import load_pages  # noqa: E402
from ocrdoctor.treat.stages import STAGES, header, stage_times  # noqa: E402


def test_every_stage_is_timed_and_the_predictor_is_left_as_it_was():
    predictor = trained_predictor()
    det, reco = predictor.det_predictor, predictor.reco_predictor
    classes = (type(det.pre_processor), type(det.model.postprocessor))
    pages = [p.image for p in load_pages(None)]
    times = stage_times(predictor, pages, "as given", repeat=1, torch=torch)
    assert set(times.seconds) == set(STAGES)
    assert all(times.seconds[s] > 0 for s in ("pre-processing", "detection", "post-processing", "recognition"))
    assert sum(times.seconds.values()) == pytest.approx(times.total, rel=0.01)
    true_words = sum(len(v) for v in truth()["pages"].values()) / len(pages)
    assert abs(times.boxes_per_page - true_words) <= 0.1 * true_words  # the pair finds the samples' words
    assert (type(det.pre_processor), type(det.model.postprocessor)) == classes
    assert not det.model._forward_hooks and not det.model._forward_pre_hooks and not reco._forward_hooks
    assert len(times.line().split()) == len(header().split()) + 1  # "as given" is two words


def test_half_a_predictor_has_no_stage_table():
    from doctr.models import detection_predictor

    predictor = trained_predictor()
    half = detection_predictor(predictor.det_predictor.model, pretrained=False)
    assert stage_times(half, [p.image for p in load_pages(None)], "as given", torch=torch) is None
