"""The name lists the safety verdict reads stay true to the installed torch and docTR."""

from __future__ import annotations

import pytest

from ocrdoctor.read import allowlist
from tests.conftest import require_arch

torch = pytest.importorskip("torch")


def test_torchs_weights_only_allowlist_is_in_the_committed_list():
    """Fails when a newer torch allows more: regenerate with `python -m ocrdoctor.read.allowlist`."""
    from torch import _weights_only_unpickler as wou

    assert set(wou._get_allowed_globals()) <= allowlist.torch_weights_only()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["db_resnet50", "fast_base", "linknet_resnet18", "crnn_vgg16_bn", "sar_resnet31",
                                  "master", "vitstr_small", "parseq", "viptr_tiny"])
def test_every_class_a_pickled_docTR_model_rebuilds_is_shipped(arch, tmp_path):
    require_arch(arch)
    from ocrdoctor.checks import examples as ex
    from ocrdoctor.inspect.checkpoint import inspect_checkpoint

    facts = inspect_checkpoint(_saved(ex.doctr_model(arch, trained=False), tmp_path))
    assert facts.unsafe_globals == () and facts.pickled_module and facts.user_modules == ()
    assert facts.architecture.arch == arch


def _saved(model, folder):
    path = folder / "whole.pt"
    torch.save(model, path)
    return path


def test_harmless_names_are_not_on_torchs_list():
    """OD120 is for what torch refuses: a harmless name torch allows would never need it."""
    import json
    from importlib import resources

    harmless = json.loads(resources.files("ocrdoctor").joinpath("data/harmless_globals.json").read_text())["globals"]
    assert not set(harmless) & allowlist.torch_weights_only()
