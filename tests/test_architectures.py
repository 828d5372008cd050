"""The signature table matches the installed docTR, and every architecture is identified."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files

from ocrdoctor import architectures
from ocrdoctor.checks import examples as ex

ARCHS = architectures.arch_names()


def test_table_is_current_with_installed_doctr():
    """Regenerates the table from docTR; on failure run `python -m ocrdoctor.architectures`."""
    from importlib import resources

    stored = resources.files("ocrdoctor").joinpath("data/architectures.json").read_text()
    assert architectures.dumps(architectures.generate()) == stored


def test_table_covers_every_docTR_architecture():
    from doctr.models import detection, recognition

    assert set(ARCHS) == set(detection.zoo.ARCHS) | set(recognition.zoo.ARCHS)
    forms = {(s.arch, s.form) for s in architectures.signatures()}
    assert ("fast_base", "training") in forms and ("fast_base", "reparameterized") in forms


@pytest.mark.parametrize("arch", ARCHS)
def test_each_architecture_identifies_itself(arch):
    shapes = {k: tuple(v.shape) for k, v in ex.doctr_model(arch, trained=False).state_dict().items()}
    match = architectures.identify(shapes)
    assert (match.arch, match.score, match.identified) == (arch, 1.0, True)
    assert not (match.missing or match.unexpected or match.mismatched)


def test_wrapper_prefixes_are_seen_through():
    shapes = {f"_orig_mod.module.{k}": tuple(v.shape) for k, v in ex.doctr_model("crnn_mobilenet_v3_small").state_dict().items()}
    match = architectures.identify(shapes)
    assert match.arch == "crnn_mobilenet_v3_small" and match.prefix == "_orig_mod.module."


def test_unrelated_weights_are_not_identified():
    match = architectures.identify({"fc.weight": (10, 4), "fc.bias": (10,)})
    assert match is None or not match.identified


def test_vitstr_small_and_base_share_keys_but_not_shapes():
    shapes = {k: tuple(v.shape) for k, v in ex.doctr_model("vitstr_small").state_dict().items()}
    assert architectures.identify(shapes).arch == "vitstr_small"
    assert architectures.identify(shapes, "vitstr_base").mismatched


def test_dumps_is_stable_json():
    table = {"doctr_version": "x", "architectures": [{"keys": {"a.weight": [3, 4]}}]}
    text = architectures.dumps(table)
    assert json.loads(text) == table and '"a.weight": [3, 4]' in text
