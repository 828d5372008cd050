"""End to end on real docTR checkpoints: clean ones stay quiet, broken ones get the exact rule."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.anatomy.architectures import reference_release
from ocrdoctor.api import check_path
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.checkpoint import inspect_checkpoint
from tests.conftest import codes, require_arch, run


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_clean_docTR_checkpoint_is_quiet(save, db_state_dict, dtype):
    sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in db_state_dict.items()}
    path = save(sd, "det.pt")
    result = run("check", path, "--fail-on", "info")
    assert result.exit_code == 0, result.stdout
    assert "No problems found in 1 file." in result.stdout
    assert "db_mobilenet_v3_large (detection, docTR 0.7.0-1.1.0)" in result.stdout


def test_clean_safetensors_docTR_checkpoint_is_quiet(tmp_path, db_state_dict):
    from safetensors.torch import save_file

    path = tmp_path / "det.safetensors"
    save_file(db_state_dict, path)
    report = check_path(path)
    assert codes(report) == []
    assert report.targets[0].summary["architecture"] == "db_mobilenet_v3_large (detection, docTR 0.7.0-1.1.0)"


def test_fresh_untrained_docTR_model_is_od116_not_od110(save):
    path = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", trained=False))
    [finding] = check_path(path).findings
    assert finding.rule == "OD116" and finding.severity.value == "error"
    assert finding.message == ("every weight is still at its initialization: all 34 norm layers at exactly weight 1, "
                               "bias 0; all 34 BatchNorm layers with untouched running statistics; 18 of 19 layer "
                               "biases still 0")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["db_mobilenet_v3_large", "fast_tiny", "parseq", "vitstr_small", "master",
                                  "crnn_vgg16_bn", "linknet_resnet18", "viptr_tiny"])
def test_untrained_verdict_on_docTR_architectures(save, arch):
    """Fresh: OD116 on every architecture. Moved off its initialization: no OD116 and no false OD110."""
    require_arch(arch)
    fresh = check_path(save(ex.doctr_state_dict(arch, trained=False), "fresh.pt"))
    assert "OD116" in codes(fresh) and "OD110" not in codes(fresh)
    trained = check_path(save(ex.doctr_state_dict(arch), "trained.pt"))
    assert not {"OD116", "OD110"} & set(codes(trained))


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
    assert 'sd = ckpt["model"]' in found["OD104"]["fix"] and '(sd, "module.")' in found["OD104"]["fix"]
    assert all(f["command"] == f"ocrdoctor fix {path} -o {path.with_name('model-clean.pt')}"
               for f in found.values())
    assert found["OD105"]["location"] == "module."
    assert "cuda:0" in found["OD106"]["message"]
    assert data["summary"] == {"error": 0, "warning": 4, "info": 0, "not_checked": 0}
    assert run("check", path, "--fail-on", "warning").exit_code == 1


def test_custom_vocab_without_a_stored_vocab_is_one_od117_everywhere(save):
    """One head, one verdict: the same OD117 with and without --arch, never an OD113."""
    path = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"))
    facts = inspect_checkpoint(path)
    assert (facts.architecture.arch, facts.architecture.head_size) == ("crnn_mobilenet_v3_small", 10)
    plain = check_path(path)
    requested = check_path(path, arch="crnn_mobilenet_v3_small")
    assert codes(plain) == ["OD117"] and [f.rule for f in requested.targets[0].findings] == ["OD117"]
    assert plain.findings[0].message == requested.findings[0].message
    assert f"it fits docTR {reference_release()[0]}'s digits" in plain.findings[0].message
    assert requested.targets[1].summary["not_built"].endswith("(see OD117)")


def test_a_stored_vocab_that_fits_is_used_and_quiet(save):
    path = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "vocab": "0123456789"})
    report = check_path(path, arch="crnn_mobilenet_v3_small")
    assert codes(report) == ["OD104"]  # wrapped under "model", nothing about the head
    assert report.targets[1].summary["components"] == "recognition: CRNN"


def test_a_stored_vocab_of_the_wrong_length_is_od118(save):
    path = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "vocab": "0123"})
    od118 = next(f for f in check_path(path).findings if f.rule == "OD118")
    assert od118.severity.value == "error" and "has 4 characters but the head has 11 outputs" in od118.message


def test_a_vocab_in_a_docTR_config_beside_the_file_is_used(save, tmp_path):
    import json

    path = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "reco.pt")
    (tmp_path / "config.json").write_text(json.dumps({"arch": "crnn_mobilenet_v3_small", "task": "recognition",
                                                      "vocab": "0123456789", "mean": [0.5, 0.5, 0.5],
                                                      "std": [0.25, 0.25, 0.25], "input_shape": [3, 32, 128]}))
    facts = inspect_checkpoint(path)
    assert facts.config.vocab == "0123456789" and facts.config.source == "config.json"
    report = check_path(path, arch="crnn_mobilenet_v3_small")
    assert codes(report) == [] and "not_built" not in report.targets[1].summary


def test_multi_class_detector_is_identified_not_a_mismatch(save):
    path = save(ex.doctr_state_dict("db_mobilenet_v3_large", class_names=["words", "stamps"]))
    report = check_path(path, arch="db_mobilenet_v3_large")
    assert codes(report) == []
    assert "classes of 2" in report.targets[0].summary["architecture"]


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
    assert finding.message == "3 NaN/Inf values in 1 tensor: prob_head.6.weight (3)"


def test_mixed_half_cast(save, db_state_dict):
    sd = {k: (v.half() if k.startswith("feat_extractor") and v.is_floating_point() else v) for k,
          v in db_state_dict.items()}
    [finding] = check_path(save(sd)).findings
    assert finding.rule == "OD107" and "float16" in finding.message and "float32" in finding.message
