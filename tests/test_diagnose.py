"""diagnose() on real docTR predictors: clean ones stay clean, and every printed fix, executed on
the object it was printed for, makes its finding go away."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
models = pytest.importorskip("doctr.models")

import ocrdoctor
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.model import NotAModel


def _predictor(det="db_mobilenet_v3_large", reco="crnn_mobilenet_v3_small"):
    """Built the way a deployment builds a custom predictor: from model objects."""
    return models.ocr_predictor(det_arch=ex.doctr_model(det).eval(), reco_arch=ex.doctr_model(reco).eval(),
                                pretrained=False)


def _codes(report) -> list[str]:
    return sorted({f.rule for f in report.findings})


def test_fresh_ocr_predictor_is_clean_although_its_wrapper_says_training():
    predictor = models.ocr_predictor("db_mobilenet_v3_large", "crnn_mobilenet_v3_small", pretrained=False,
                                     pretrained_backbone=False)
    assert predictor.training  # the wrapper's flag, which OD207 must not count
    report = ocrdoctor.diagnose(predictor, environment=False)
    assert report.ok and _codes(report) == []
    assert report.targets[0].summary["components"] == "detection: DBNet, recognition: CRNN"


@pytest.mark.parametrize("factory", [
    lambda: models.kie_predictor("db_mobilenet_v3_large", "crnn_mobilenet_v3_small", pretrained=False, pretrained_backbone=False),
    lambda: models.detection_predictor("db_mobilenet_v3_large", pretrained=False, pretrained_backbone=False),
    lambda: models.recognition_predictor("crnn_mobilenet_v3_small", pretrained=False, pretrained_backbone=False),
    lambda: ex.doctr_model("parseq").eval(),
    lambda: torch.nn.Linear(3, 2),
])
def test_every_kind_of_object_is_diagnosed(factory):
    assert _codes(ocrdoctor.diagnose(factory(), environment=False)) == []


def _half_cast(p):
    p.det_predictor.model.feat_extractor.half()
    return p


SCENARIOS = {
    "OD203": lambda: _half_cast(_predictor()),
    "OD205": lambda: _predictor().half(),
    "OD206": lambda: _predictor().double(),
    "OD207": lambda: _predictor().train(),
    "OD208": lambda: _predictor(det="fast_tiny"),
    "OD209": lambda: ex.predictor_with_preprocessing(std=(1.0, 1.0, 1.0)),
}


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_printed_fix_runs_and_the_finding_goes(code):
    predictor = SCENARIOS[code]()
    findings = [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == code]
    assert findings, f"{code} did not fire"
    for finding in findings:
        namespace = {"predictor": predictor, "torch": torch}
        exec(finding.fix, namespace)
        predictor = namespace["predictor"]
    assert code not in _codes(ocrdoctor.diagnose(predictor, environment=False))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("code", ["OD201", "OD204"])
def test_printed_gpu_fixes_run_and_the_finding_goes(code):
    predictor = _predictor() if code == "OD201" else _predictor().cuda()
    [finding] = [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == code]
    namespace = {"predictor": predictor}
    exec(finding.fix, namespace)
    assert code not in _codes(ocrdoctor.diagnose(namespace["predictor"], environment=False))


def test_cpu_predictor_on_a_gpu_host_with_injected_facts(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (8, 9))
    [finding] = ocrdoctor.diagnose(_predictor(), environment=False).findings
    assert finding.rule == "OD201" and finding.fix == "predictor = predictor.cuda()"
    assert finding.location == "predictor.det_predictor.model, predictor.reco_predictor.model"


def test_mixed_devices_between_detection_and_recognition():
    predictor = _predictor()
    predictor.reco_predictor.model.to("meta")
    [finding] = ocrdoctor.diagnose(predictor, environment=False).findings
    assert finding.rule == "OD202" and "on cpu" in finding.message and "on meta" in finding.message
    assert finding.fix == 'predictor = predictor.to("cpu")'


def test_diagnose_moves_and_copies_nothing():
    predictor = _predictor()
    before = [(p.data_ptr(), p.device, p.dtype) for p in predictor.parameters()]
    ocrdoctor.diagnose(predictor)
    assert [(p.data_ptr(), p.device, p.dtype) for p in predictor.parameters()] == before


@pytest.mark.parametrize(("obj", "message"), [
    ("not a model", "expects a docTR predictor or a torch.nn.Module, got str"),
    (torch.nn.ReLU(), "ReLU has no parameters or buffers: nothing to diagnose"),
])
def test_what_cannot_be_diagnosed_is_one_line(obj, message):
    with pytest.raises(NotAModel, match=message) as info:
        ocrdoctor.diagnose(obj)
    assert "\n" not in str(info.value)


def test_half_built_predictor():
    predictor = _predictor()
    predictor.reco_predictor.model = None
    with pytest.raises(NotAModel, match="half-built predictor: predictor.reco_predictor.model is missing"):
        ocrdoctor.diagnose(predictor)


def test_notebook_view_and_report_api():
    report = ocrdoctor.diagnose(_predictor().train())
    html = report._repr_html_()
    assert html.startswith("<table class='ocrdoctor'") and "<code>OD207</code>" in html and "predictor.eval()" in html
    assert not report.ok
    with pytest.raises(ocrdoctor.findings.DiagnosisError, match="OD207"):
        report.raise_for_errors()
    assert "OD207 error   train-mode" in str(report)
    assert [t.kind for t in report.targets] == ["model", "environment"]
