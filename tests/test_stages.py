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
    assert sum(times.seconds.values()) == pytest.approx(times.total.median, rel=0.01)
    true_words = sum(len(v) for v in truth()["pages"].values()) / len(pages)
    assert abs(times.boxes_per_page - true_words) <= 0.1 * true_words  # the pair finds the samples' words
    assert (type(det.pre_processor), type(det.model.postprocessor)) == classes
    assert not det.model._forward_hooks and not det.model._forward_pre_hooks and not reco._forward_hooks
    assert len(times.line().split()) == len(header().split()) + 1  # "as given" is two words
    assert times.total.fastest == times.total.median == times.total.slowest  # one run: its spread is itself


def test_totals_whose_spreads_overlap_are_no_measurable_difference():
    from ocrdoctor.core.timing import Spread
    from ocrdoctor.treat.stages import StageTimes, no_measurable_difference

    def times(fastest, median, slowest):
        return StageTimes("x", dict.fromkeys(STAGES, 0.0), 50.0, Spread(fastest, median, slowest))

    assert no_measurable_difference(times(0.40, 0.42, 0.45), times(0.36, 0.41, 0.43))
    assert not no_measurable_difference(times(0.40, 0.42, 0.45), times(0.30, 0.32, 0.35))
    assert times(0.4, 0.42, 0.45).line().split()[-2:] == ["400-450", "50.0"]


def test_half_a_predictor_has_no_stage_table():
    from doctr.models import detection_predictor

    predictor = trained_predictor()
    half = detection_predictor(predictor.det_predictor.model, pretrained=False)
    assert stage_times(half, [p.image for p in load_pages(None)], "as given", torch=torch) is None
