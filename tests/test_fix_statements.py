"""Fixes keep what they do not fix: OD209's statements set what differs from how the model was trained (its cfg's
size, mean and std; the resize flags docTR's factory sets) and nothing else.

A predictor built with any batch size, interpolation, `preserve_aspect_ratio` and `symmetric_pad`, its mean
knocked off the cfg, is fixed by the statements OD209 prints; the pre-processor then equals, attribute by
attribute, one built with the same batch size and interpolation, the right mean and docTR's resize flags, and
the trained pair reads the same words.
"""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("torch")
pytest.importorskip("doctr")

import ocrdoctor  # noqa: E402

COMBINATIONS = list(itertools.product((1, 8), ("bilinear", "nearest"), (True, False), (True, False)))
FACTORY = {"det_predictor": (True, True), "reco_predictor": (True, False)}  # docTR's (preserve_aspect_ratio, pad)


def _pre(model, batch: int, interpolation: str, keep_ratio: bool, pad: bool, mean=None):
    from doctr.models.preprocessor import PreProcessor
    from torchvision.transforms import InterpolationMode

    return PreProcessor(model.cfg["input_shape"][-2:], batch, mean=mean or model.cfg["mean"], std=model.cfg["std"],
                        interpolation=InterpolationMode(interpolation), preserve_aspect_ratio=keep_ratio,
                        symmetric_pad=pad)


def _settings(pre) -> dict:
    """Everything of a pre-processor that decides what the model sees."""
    r, n = pre.resize, pre.normalize
    return {"batch_size": pre.batch_size, "size": tuple(r.size), "interpolation": r.interpolation,
            "preserve_aspect_ratio": r.preserve_aspect_ratio, "symmetric_pad": r.symmetric_pad,
            "antialias": r.antialias, "mean": tuple(map(float, n.mean)), "std": tuple(map(float, n.std)),
            "class": (type(pre), type(r), type(n))}


def _words(predictor, page) -> list[str]:
    result = predictor([page])
    return [w.value for b in result.pages[0].blocks for line in b.lines for w in line.words]


@pytest.fixture(scope="module")
def pair():
    """Two trained predictors, built once: each test gives both new pre-processors."""
    return ocrdoctor.trained_predictor(), ocrdoctor.trained_predictor()


def _fixed(pair, batch: int, interpolation: str, keep_ratio: bool, pad: bool):
    """(the predictor, its mean knocked off the cfg and OD209's statements run as printed; the reference)."""
    predictor, reference = pair
    for name in FACTORY:
        part, ref = getattr(predictor, name), getattr(reference, name)
        part.pre_processor = _pre(part.model, batch, interpolation, keep_ratio, pad, mean=(0.5, 0.5, 0.5))
        ref.pre_processor = _pre(ref.model, batch, interpolation, *FACTORY[name])
    findings = [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == "OD209"]
    assert len(findings) == 2  # the detection and the recognition pre-processor
    for finding in findings:
        task = "det_predictor" if "det_predictor" in finding.location else "reco_predictor"
        named = {k for k, given, trained in zip(("preserve_aspect_ratio", "symmetric_pad"), (keep_ratio, pad),
                                                 FACTORY[task], strict=True) if given != trained}
        assert {k for k in ("preserve_aspect_ratio", "symmetric_pad") if f"resize.{k} =" in finding.fix} == named
        exec(finding.fix, {"predictor": predictor})  # as printed
    assert not [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == "OD209"]
    return predictor, reference


@pytest.mark.parametrize(("batch", "interpolation", "keep_ratio", "pad"), COMBINATIONS)
def test_od209_statements_change_only_what_they_name(pair, batch, interpolation, keep_ratio, pad):
    predictor, reference = _fixed(pair, batch, interpolation, keep_ratio, pad)
    for part, ref in ((predictor.det_predictor, reference.det_predictor),
                      (predictor.reco_predictor, reference.reco_predictor)):
        assert _settings(part.pre_processor) == _settings(ref.pre_processor)


@pytest.mark.slow
@pytest.mark.parametrize(("keep_ratio", "pad"), list(itertools.product((True, False), (True, False))))
def test_the_fixed_predictor_reads_as_one_built_right(pair, keep_ratio, pad):
    """The words, on the pair's first sample page, for each way of resizing (batch 8, bilinear)."""
    from ocrdoctor.specimens.pair import sample_pages
    from ocrdoctor.treat.pages import load_pages

    predictor, reference = _fixed(pair, 8, "bilinear", keep_ratio, pad)
    page = load_pages([sample_pages()[0]])[0].image
    assert _words(predictor, page) == _words(reference, page)


def test_od209_prints_one_statement_per_value_that_differs():
    from ocrdoctor.checks import examples as ex

    predictor = ex.predictor_with_preprocessing(mean=(0.5, 0.5, 0.5))
    [finding] = [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == "OD209"]
    assert finding.fix == 'predictor.pre_processor.normalize.mean = list(predictor.model.cfg["mean"])'
