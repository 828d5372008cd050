"""diagnose() on real docTR predictors: clean ones stay clean, and every printed fix, executed on
the object it was printed for, makes its finding go away."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
models = pytest.importorskip("doctr.models")

import ocrdoctor
from ocrdoctor.anatomy.versions import fast_fusion_sound
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.model import NotAModel


def _predictor(det="db_mobilenet_v3_large", reco="crnn_mobilenet_v3_small"):
    """Built the way a deployment builds a custom predictor: from model objects."""
    return models.ocr_predictor(det_arch=ex.doctr_model(det).eval(), reco_arch=ex.doctr_model(reco).eval(),
                                pretrained=False)


def _codes(report) -> list[str]:
    return sorted({f.rule for f in report.findings})


def test_fresh_ocr_predictor_is_untrained_but_not_in_training_mode():
    predictor = models.ocr_predictor("db_mobilenet_v3_large", "crnn_mobilenet_v3_small", pretrained=False,
                                     pretrained_backbone=False)
    assert predictor.training  # the wrapper's flag, which OD207 must not count
    report = ocrdoctor.diagnose(predictor, environment=False)
    assert _codes(report) == ["OD210"]  # pretrained=False: random weights, both models
    assert [f.location for f in report.findings] == ["predictor.det_predictor.model", "predictor.reco_predictor.model"]
    assert report.targets[0].summary["components"] == "detection: DBNet, recognition: CRNN"


def test_trained_ocr_predictor_is_clean():
    assert _codes(ocrdoctor.diagnose(_predictor(), environment=False)) == []


def test_untrained_verdict_is_the_same_live_and_saved(tmp_path):
    """OD210 on the live model and OD116 on its saved weights read the same evidence."""
    from ocrdoctor.api import check_path

    for model in (ex.doctr_model("crnn_mobilenet_v3_small", trained=False), ex.briefly_trained()):
        live = "OD210" in _codes(ocrdoctor.diagnose(model.eval(), environment=False))
        path = tmp_path / "reco.pt"
        torch.save(model.state_dict(), path)
        saved = "OD116" in _codes(check_path(path))
        assert live == saved


@pytest.mark.parametrize("factory", [
    lambda: models.kie_predictor(ex.doctr_model("db_mobilenet_v3_large").eval(),
                                 ex.doctr_model("crnn_mobilenet_v3_small").eval(), pretrained=False),
    lambda: models.detection_predictor(ex.doctr_model("db_mobilenet_v3_large").eval(), pretrained=False),
    lambda: models.recognition_predictor(ex.doctr_model("crnn_mobilenet_v3_small").eval(), pretrained=False),
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
    "OD211": lambda: _predictor(reco="crnn_vgg16_bn").half(),
    "OD212": lambda: ex.ocr_predictor(straighten_pages=True, detect_orientation=True, assume_straight_pages=False),
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
    if code == "OD208" and not fast_fusion_sound():  # docTR 0.8: the fix is to upgrade first, as comments
        assert findings[0].fix.startswith("# docTR 0.8's reparameterize would change the outputs")
        return
    assert code not in _codes(ocrdoctor.diagnose(predictor, environment=False))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("code", ["OD201", "OD204"])
def test_printed_gpu_fixes_run_and_the_finding_goes(code):
    predictor = _predictor() if code == "OD201" else _predictor().cuda()
    findings = [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == code]
    assert findings
    for finding in findings:
        namespace = {"predictor": predictor}
        exec(finding.fix, namespace)
        predictor = namespace["predictor"]
    assert code not in _codes(ocrdoctor.diagnose(predictor, environment=False))


def test_half_unsafe_architecture_is_never_advised_half():
    """OD204 advises .half() for the detector only; the crnn_vgg16_bn recogniser stays float32 (OD211)."""
    from ocrdoctor.core.engine import run_rules
    from ocrdoctor.core.registry import default

    facts = ex.on_gpu("gpu", lambda: _predictor(reco="crnn_vgg16_bn"), (8, 0)).make()
    rules = default.load().select(select=("OD204", "OD211"), target="model")
    findings = run_rules(rules, facts, target="predictor", kind="model").findings
    assert [(f.rule, f.location) for f in findings] == [("OD204", "predictor.det_predictor.model")]
    assert findings[0].fix.startswith("predictor.det_predictor.model.half()")


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
    with pytest.raises(ocrdoctor.core.findings.DiagnosisError, match="OD207"):
        report.raise_for_errors()
    assert "OD207 error   train-mode" in str(report)
    assert [t.kind for t in report.targets] == ["model", "environment"]


@pytest.mark.parametrize(("flags", "native"), [("fpu sse avx512f amx_bf16 amx_tile", True),
                                               ("fpu sse avx2", False), (None, None)])
def test_native_bfloat16_read_from_cpu_flags(tmp_path, flags, native):
    from ocrdoctor.inspect.model import native_cpu_bf16

    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert native_cpu_bf16(str(cpuinfo)) is native


def test_page_option_fixes_keep_the_predictor_reading():
    """The statements OD212 prints turn each option off and the predictor still runs end to end."""
    from ocrdoctor.anatomy.pageoptions import DISABLE_FLAGS, crop_orientation_runs, doctr_release
    from ocrdoctor.treat.samples import text_page

    predictor = ex.ocr_predictor(straighten_pages=True, detect_orientation=True, assume_straight_pages=False)
    findings = [f for f in ocrdoctor.diagnose(predictor, environment=False).findings if f.rule == "OD212"]
    assert [f.message.split(" ", 1)[0] for f in findings] == [
        "straighten_pages=True", "detect_orientation=True", "assume_straight_pages=False"]
    for finding in findings:
        exec(finding.fix, {"predictor": predictor})
    assert "OD212" not in _codes(ocrdoctor.diagnose(predictor, environment=False))
    assert not crop_orientation_runs(predictor) and not predictor.straighten_pages
    if doctr_release() < DISABLE_FLAGS:  # docTR 0.8-0.9 fail on a rotated page without words, fix or not
        with pytest.raises(IndexError):
            ex.ocr_predictor(assume_straight_pages=False)([text_page(0)])
        with pytest.raises(IndexError):
            predictor([text_page(0)])
        return
    document = predictor([text_page(0)])
    assert len(document.pages) == 1


def test_page_option_fix_fits_the_installed_docTR():
    """disable_crop_orientation exists from docTR 0.10; before it, a stand-in in that release's answer shape."""
    from ocrdoctor.anatomy.pageoptions import costly_options

    predictor = ex.ocr_predictor(assume_straight_pages=False)
    fixes = {release: costly_options(predictor, release=release)[0] for release in ((1, 1, 0), (0, 9, 1), (0, 8, 1))}
    assert "crop_orientation_predictor(disabled=True)" in fixes[1, 1, 0].fix
    assert "about 1 s per page" not in fixes[1, 1, 0].cost and "about 1 s per page" in fixes[0, 9, 1].cost
    stand_ins = {}
    for release in ((0, 9, 1), (0, 8, 1)):
        namespace = {"predictor": predictor}
        exec(fixes[release].fix, namespace)
        stand_ins[release] = namespace["predictor"].crop_orientation_predictor(["crop-1", "crop-2"])
    assert stand_ins == {(0, 9, 1): [[0, 0], [0, 0], [1.0, 1.0]], (0, 8, 1): [0, 0]}


def test_fast_fusion_is_not_advised_where_docTR_breaks_it():
    """docTR 0.8's reparameterize changes FAST's outputs (measured by .ci/matrix): OD208 says upgrade first."""
    from dataclasses import replace

    from ocrdoctor.core.engine import run_rules
    from ocrdoctor.core.registry import default
    from ocrdoctor.inspect.model import inspect_model

    facts = replace(inspect_model(_predictor(det="fast_tiny")), doctr_release=(0, 8, 1))
    [finding] = run_rules(default.load().select(select=("OD208",), target="model"), facts, target="p",
                          kind="model").findings
    assert "upgrade docTR before fusing" in finding.message and "fixed in docTR 0.9" in finding.message
    assert all(line.startswith("#") for line in finding.fix.splitlines())  # nothing that would run the broken fusion


@pytest.mark.slow
def test_an_untrained_fast_model_stays_untrained_after_optimize_until_weights_are_loaded():
    """Fusion folds the norm layers (the evidence) away: the verdict is taken before, and dropped once
    the fused model's parameters change (trained weights loaded)."""
    if not fast_fusion_sound():
        pytest.skip("this docTR's FAST fusion is unsound: optimize() leaves FAST unfused")
    predictor = models.ocr_predictor(ex.doctr_model("fast_tiny", trained=False).eval(),
                                     ex.doctr_model("crnn_mobilenet_v3_small").eval(), pretrained=False)
    ocrdoctor.optimize(predictor, device="cpu", dtype="float32", verbose=False)
    det = predictor.det_predictor.model
    report = ocrdoctor.diagnose(predictor, environment=False)
    assert [f.location for f in report.findings if f.rule == "OD210"] == ["predictor.det_predictor.model"]
    assert "OD208" not in _codes(report)  # fused: the evidence really was taken before fusion
    trained = ex.reparameterized_fast_model("fast_tiny").state_dict()
    det.load_state_dict(trained)
    assert "OD210" not in _codes(ocrdoctor.diagnose(predictor, environment=False))
