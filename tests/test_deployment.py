"""`check --arch` loads the weights into the docTR model; `check --det ... --reco ...` diagnoses the
predictor built the way a deployment builds it."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.checks import examples as ex
from tests.conftest import run


@pytest.fixture
def deployment(save):
    det = save({"model": {f"module.{k}": v for k, v in ex.doctr_state_dict("db_mobilenet_v3_large").items()}}, "det.pt")
    reco = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "vocab": "0123456789"},
                "reco.pt")
    return det, reco


def _args(det, reco):
    return ["--det", det, "--det-arch", "db_mobilenet_v3_large", "--reco", reco, "--reco-arch",
            "crnn_mobilenet_v3_small"]


def test_deployment_is_built_and_diagnosed(deployment):
    det, reco = deployment
    result = run("check", *_args(det, reco), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [t["kind"] for t in data["targets"]] == ["checkpoint", "checkpoint", "model", "environment"]
    assert data["targets"][2]["facts"]["components"] == "detection: DBNet, recognition: CRNN"
    assert sorted({f["rule"] for f in data["findings"]}) == ["OD104", "OD105"]  # the files' problems only
    text = run("check", *_args(det, reco)).stdout
    assert text.rstrip().endswith("in 2 files, the model and the environment.")


def test_deployment_cast_to_half_on_the_cpu(deployment):
    det, reco = deployment
    data = json.loads(run("check", *_args(det, reco), "--half", "--format", "json", "--select", "OD2").stdout)
    findings = [f for f in data["findings"] if f["rule"] == "OD205"]
    assert [f["location"] for f in findings] == ["predictor.det_predictor.model", "predictor.reco_predictor.model"]
    assert {f["fix"] for f in findings} == {"predictor = predictor.float()"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_deployment_on_cuda_without_a_gpu_is_one_line(deployment):
    det, reco = deployment
    result = run("check", *_args(det, reco), "--device", "cuda")
    assert result.exit_code == 2 and result.stderr.startswith("ocrdoctor: error: cannot move the predictor to cuda")


@pytest.mark.parametrize("args", [
    ["--det", "det.pt"],
    ["--det", "det.pt", "--det-arch", "db_mobilenet_v3_large", "--reco", "reco.pt", "--reco-arch", "crnn_vgg16_bn",
     "x.pt"],
    [],
])
def test_incomplete_deployment_options(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("check", *args)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_reco_with_custom_vocab_but_no_vocab_entry_cannot_be_built(save, deployment):
    """The half that cannot be built is OD126 (exit 1, was exit 2 before 0.5.0); the other half is still checked."""
    det, _ = deployment
    reco = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "bare_reco.pt")
    result = run("check", *_args(det, reco), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    [od126] = [f for f in data["findings"] if f["rule"] == "OD126"]
    assert ("the head is sized for a vocab of 10 and none is stored: cannot build crnn_mobilenet_v3_small; name it "
            "with --vocab") in od126["message"]
    assert "bare_reco.config.json" in od126["message"]  # the sidecar docTR's loaders read, named
    assert "OD117 explains it" in od126["message"] and od126["target"] == f"{reco} as crnn_mobilenet_v3_small"
    statuses = {t["target"]: t["status"] for t in data["targets"]}
    assert statuses[f"{reco} as crnn_mobilenet_v3_small"] == "not_built"
    predictor = [t for t in data["targets"] if t["kind"] == "model" and t["status"] == "checked"]
    assert predictor and "detection" in json.dumps(predictor[0]["facts"])  # the detector half, still judged


def test_a_detector_given_as_the_recognizer_is_an_od113_finding(deployment):
    det, _ = deployment
    result = run("check", *_args(det, det), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    od113 = [f for f in data["findings"] if f["rule"] == "OD113"]
    assert len(od113) == 1 and od113[0]["target"] == str(det)
    assert "does not fit crnn_mobilenet_v3_small" in od113[0]["message"]
    model = next(t for t in data["targets"] if t["kind"] == "model")
    assert model["status"] == "not_built" and model["facts"]["not_built"] == model["reason"]
    assert not model["reason"].startswith("not built: ")  # the state is the status, never a prefixed string
    text = run("check", *_args(det, det)).stdout
    block = text.split(f"{det} as crnn_mobilenet_v3_small\n")[1].split("\n\n")[0]
    assert "OD126 error" in block and "not built: " in block and "no problems found" not in block


def test_arch_also_checks_the_built_model(save):
    path = save(ex.doctr_state_dict("fast_tiny"), "fast.pt")
    data = json.loads(run("check", path, "--arch", "fast_tiny", "--format", "json").stdout)
    assert [t["target"] for t in data["targets"]] == [str(path), f"{path} as fast_tiny"]
    assert {(f["rule"], f["target"]) for f in data["findings"]} == {("OD114", str(path)), ("OD208",
                                                                                           f"{path} as fast_tiny")}


def test_arch_on_a_file_that_does_not_load_skips_the_model_rules(save):
    path = save(ex.doctr_state_dict("db_mobilenet_v3_large"), "det.pt")
    result = run("check", path, "--arch", "crnn_mobilenet_v3_small", "--format", "json", "-v")
    data = json.loads(result.stdout)
    model = data["targets"][1]
    assert model["kind"] == "model" and model["skipped"]
    assert all("does not load into crnn_mobilenet_v3_small" in s["reason"] for s in model["skipped"])
    assert result.exit_code == 1  # OD113 on the file
