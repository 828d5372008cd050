"""A detector alone or a recognizer alone is a deployment too: `check` and `bench` take one
half, build docTR's detection or recognition predictor, and run that half's rules and the environment."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

import ocrdoctor  # noqa: E402
from ocrdoctor.api import check_deployment  # noqa: E402
from ocrdoctor.checks import examples as ex  # noqa: E402
from tests.conftest import codes, run, run_process  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    return ocrdoctor.trained_pair()


@pytest.mark.slow
def test_a_trained_detector_alone_is_clean_and_checked_as_a_detection_predictor(pair):
    det, det_arch, _, _ = pair
    proc = run_process("check", "--det", det, "--det-arch", det_arch, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    kinds = [(t["target"], t["kind"]) for t in data["targets"]]
    assert kinds == [(str(det), "checkpoint"), ("DetectionPredictor", "model"), ("environment", "environment")]
    assert data["findings"] == []


def test_a_recognizer_alone_through_the_api_finds_its_own_problems(tmp_path, pair):
    """An untrained recognizer saved as a training checkpoint: the file's rules and the live model's fire."""
    path = tmp_path / "reco.pt"
    model = ex.doctr_model("crnn_mobilenet_v3_small", trained=False)
    torch.save({"model": model.state_dict(), "epoch": 1}, path)
    report = check_deployment(reco=path, reco_arch="crnn_mobilenet_v3_small")
    assert [t.target for t in report.targets] == [str(path), "RecognitionPredictor", "environment"]
    assert {"OD104", "OD116"} <= set(codes(report.targets[0])) and codes(report.targets[1]) == ["OD210"]
    assert report.exit_code() == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--det", "x.pt"], "--det with --det-arch"),
    (["--reco-arch", "crnn_mobilenet_v3_small"], "--reco with --reco-arch"),
])
def test_a_half_without_its_architecture_is_a_usage_error(args, message):
    result = run("check", *args)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.splitlines()) == 1


def test_bench_times_a_recognizer_alone_and_reads_the_word_crops(pair):
    _, _, reco, reco_arch = pair
    result = run("bench", "--reco", reco, "--reco-arch", reco_arch, "--dtype", "float64", "--repeat", "1",
                 "--words", "4", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["predictor"] == "RecognitionPredictor" and data["read_on"] == "24 sample word crops"
    rows = {r["variant"]: r for r in data["rows"]}
    assert rows["as given"]["words_total"] == 24
    assert rows["+ float32"]["words_same"] == 24 and not rows["+ float32"]["reads_differently"]


def test_bench_times_a_detector_alone(pair):
    det, det_arch, _, _ = pair
    result = run("bench", "--det", det, "--det-arch", det_arch, "--repeat", "1", "--no-onnx")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "DetectionPredictor on cpu: 1 synthetic page(s), median of 1"
    assert "words: a detector alone reads none (ocrdoctor compare checks the boxes it finds)" in lines
    refused = run("bench", "--det", det, "--det-arch", det_arch, "--straighten-pages")
    assert refused.exit_code == 2 and "need both --det and --reco" in refused.stderr
