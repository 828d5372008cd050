"""End to end on real docTR checkpoints: clean ones stay quiet, broken ones get the exact rule."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.api import check_path
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.checkpoint import inspect_checkpoint
from tests.conftest import codes, run


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_clean_docTR_checkpoint_is_quiet(save, db_state_dict, dtype):
    sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in db_state_dict.items()}
    path = save(sd, "det.pt")
    result = run("check", path, "--fail-on", "info")
    assert result.exit_code == 0, result.stdout
    assert "No problems found in 1 file." in result.stdout
    assert "db_mobilenet_v3_large (detection)" in result.stdout


def test_clean_safetensors_docTR_checkpoint_is_quiet(tmp_path, db_state_dict):
    from safetensors.torch import save_file

    path = tmp_path / "det.safetensors"
    save_file(db_state_dict, path)
    report = check_path(path)
    assert codes(report) == []
    assert report.targets[0].summary["architecture"] == "db_mobilenet_v3_large (detection)"


def test_fresh_untrained_docTR_model_flags_batchnorm(save):
    path = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", trained=False))
    [finding] = check_path(path).findings
    assert finding.rule == "OD110"
    assert finding.message.startswith("34 of 34 BatchNorm layers")


def test_training_checkpoint_gets_every_finding_with_numbers(save, db_state_dict):
    wrapped = {f"module.{k}": v for k, v in db_state_dict.items()}
    ckpt = {"model": wrapped, "optimizer": ex.optimizer_state(db_state_dict), "epoch": 12}
    with ex.storages_tagged("cuda:0"):
        path = save(ckpt)
    result = run("check", path, "--format", "json")
    assert result.exit_code == 0  # all warnings, default --fail-on error
    data = json.loads(result.stdout)
    found = {f["rule"]: f for f in data["findings"]}
    assert sorted(found) == ["OD103", "OD104", "OD105", "OD106"]
    assert found["OD103"]["location"] == "optimizer, epoch"
    assert "% of the" in found["OD103"]["message"] and found["OD103"]["applicability"] == "safe"
    assert found["OD104"]["fix"].endswith('["model"])')
    assert found["OD105"]["location"] == "module."
    assert "cuda:0" in found["OD106"]["message"]
    assert data["summary"] == {"error": 0, "warning": 4, "info": 0}
    assert run("check", path, "--fail-on", "warning").exit_code == 1


def test_custom_vocab_recognizer_is_identified_and_checked_against_arch(save):
    path = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"))
    facts = inspect_checkpoint(path)
    assert facts.architecture.arch == "crnn_mobilenet_v3_small"
    assert facts.architecture.head_size == 10
    assert codes(check_path(path)) == []
    [finding] = check_path(path, arch="crnn_mobilenet_v3_small").findings
    assert finding.rule == "OD113"
    assert "vocabulary of 10 characters" in finding.message and "default has 126" in finding.message
    assert "vocab=VOCAB" in finding.fix


def test_multi_class_detector_reports_class_count(save):
    path = save(ex.doctr_state_dict("db_mobilenet_v3_large", class_names=["words", "stamps"]))
    [finding] = check_path(path, arch="db_mobilenet_v3_large").findings
    assert finding.rule == "OD113" and "class list of 2 classes" in finding.message
    assert "class_names=CLASS_NAMES" in finding.fix


def test_wrong_arch_is_an_error_with_a_hint(save, db_state_dict):
    path = save(db_state_dict)
    result = run("check", path, "--arch", "crnn_vgg16_bn")
    assert result.exit_code == 1
    assert "OD113 error" in result.stdout and "it looks like db_mobilenet_v3_large" in result.stdout


@pytest.mark.parametrize("arch", ["fast_tiny", "fast_small"])
def test_fast_training_form_flagged_and_reparameterized_form_quiet(save, arch):
    training = save(ex.doctr_state_dict(arch), "train.pt")
    fused = save(ex.reparameterized_fast(arch), "fused.pt")
    [finding] = check_path(training).findings
    assert finding.rule == "OD114" and "reparameterize(model)" in finding.fix
    assert codes(check_path(fused)) == []
    assert codes(check_path(fused, arch=arch)) == []
    assert "reparameterized form" in check_path(fused).targets[0].summary["architecture"]


def test_pickled_predictor_model_and_nan_weights(save, db_state_dict):
    sd = dict(db_state_dict)
    sd["prob_head.6.weight"] = sd["prob_head.6.weight"].clone()
    sd["prob_head.6.weight"].view(-1)[:3] = float("nan")
    [finding] = check_path(save(sd)).findings
    assert finding.rule == "OD109"
    assert finding.message == "3 NaN/Inf values in 1 tensors: prob_head.6.weight (3)"


def test_mixed_half_cast(save, db_state_dict):
    sd = {k: (v.half() if k.startswith("feat_extractor") and v.is_floating_point() else v) for k, v in db_state_dict.items()}
    [finding] = check_path(save(sd)).findings
    assert finding.rule == "OD107" and "float16" in finding.message and "float32" in finding.message
