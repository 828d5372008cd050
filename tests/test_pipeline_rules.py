"""The pipeline around the weights, judged against how the model was trained: OD209's resize flags, OD215's
post-processing thresholds, OD216's known-bad releases, OD205's measured half-precision figures. Each printed
fix is executed on the predictor and the rule is then silent."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("doctr")

from ocrdoctor import api  # noqa: E402
from ocrdoctor.anatomy import halfcpu  # noqa: E402
from ocrdoctor.checks import examples as ex  # noqa: E402
from ocrdoctor.checks.pipeline import known_bad_release  # noqa: E402
from ocrdoctor.inspect.model import inspect_model  # noqa: E402


def findings(obj, code: str) -> list:
    return [f for f in api.diagnose(obj, environment=False).findings if f.rule == code]


def fixed(obj, finding) -> None:
    exec(compile(finding.fix, finding.rule, "exec"), {"predictor": obj})


@pytest.mark.parametrize("flag", ["preserve_aspect_ratio", "symmetric_pad"])
def test_od209_compares_the_resize_flags_with_docTRs_factory_and_its_fix_restores_them(flag):
    predictor = ex.predictor_with_preprocessing(**{flag: False})
    [finding] = findings(predictor, "OD209")
    assert f"{flag} False vs True in the installed docTR's detection_predictor" in finding.message
    fixed(predictor, finding)
    assert getattr(predictor.pre_processor.resize, flag) is True and not findings(predictor, "OD209")


def test_od209_a_recognizer_as_docTRs_factory_builds_it_is_clean_and_one_padded_symmetrically_is_not():
    from doctr.models import recognition_predictor

    predictor = recognition_predictor(ex.doctr_model("crnn_mobilenet_v3_small").eval(), pretrained=False)
    assert not findings(predictor, "OD209")
    predictor.pre_processor.resize.symmetric_pad = True
    [finding] = findings(predictor, "OD209")
    assert "recognition_predictor" in finding.message


def test_od209_a_model_trained_on_stretched_pages_is_compared_with_its_config():
    predictor = ex.predictor_with_preprocessing(preserve_aspect_ratio=False, cfg={"preserve_aspect_ratio": False})
    assert not findings(predictor, "OD209")
    predictor.pre_processor.resize.preserve_aspect_ratio = True
    [finding] = findings(predictor, "OD209")
    assert "in the model's training config" in finding.message


def test_od215_names_each_changed_threshold_with_the_architectures_value_and_its_fix_restores_it():
    predictor = ex.ocr_predictor()
    post = predictor.det_predictor.model.postprocessor
    post.unclip_ratio, post.box_thresh = 2.5, 0.4
    [finding] = findings(predictor, "OD215")
    assert "unclip_ratio 2.5 (the architecture's 1.5: boxes are expanded more" in finding.message
    assert "box_thresh 0.4 (the architecture's 0.1: boxes of lower confidence are dropped" in finding.message
    assert "bin_thresh" not in finding.message and finding.severity.value == "info"
    fixed(predictor, finding)
    assert (post.unclip_ratio, post.box_thresh) == (1.5, 0.1) and not findings(predictor, "OD215")


def test_od215_reads_each_architectures_own_values():
    from doctr.models import detection_predictor

    fast = detection_predictor(ex.doctr_model("fast_tiny").eval(), pretrained=False)
    [c] = inspect_model(fast).components
    assert c.postprocessing.defaults == {"bin_thresh": 0.1, "box_thresh": 0.1, "unclip_ratio": 1.0}
    assert not findings(fast, "OD215")


def test_od216_knows_the_releases_that_break_a_feature_in_use():
    facts = inspect_model(ex.ocr_predictor(straighten_pages=True))
    assert "straighten_pages" in facts.features
    [first, second] = known_bad_release(replace(facts, doctr_release=(0, 9, 0)))
    assert "mindee/doctr#1691" in first.message and "0.10.0" in first.message
    assert first.fix == 'pip install "python-doctr>=0.10.0"'
    assert not list(known_bad_release(replace(facts, doctr_release=(1, 1, 0))))
    compiled = ex.ocr_predictor()
    compiled.det_predictor.model = torch.compile(compiled.det_predictor.model)
    facts = inspect_model(compiled)
    assert "torch.compile" in facts.features
    assert ["mindee/doctr#1819" in p.message for p in known_bad_release(replace(facts, doctr_release=(0, 10, 0)))] \
        == [True]


def test_od205_quotes_a_measured_row_and_is_silent_on_native_float16_with_the_measured_torch():
    rows = halfcpu.rows()
    assert all(r.command and r.machine and r.torch for r in rows)
    since = halfcpu.fast_from("float16")
    assert since is not None and halfcpu.slow("float16", True, since) is None
    message = halfcpu.slow("float16", False, since)
    assert "without avx512_fp16 or amx_fp16" in message
    assert halfcpu.slow("float16", True, (2, 0, 0)).startswith("a CPU with avx512_fp16/amx_fp16 but torch older")
    assert halfcpu.slow("float16", None, since) is None  # flags unreadable: nothing judged


def test_fix_and_optimize_say_what_od205_would_say_on_this_cpu(tmp_path):
    from ocrdoctor.treat.fix import fix_checkpoint

    source = tmp_path / "reco.pt"
    torch.save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), source)
    [result] = fix_checkpoint(source, tmp_path / "half.pt", dtype="float16")
    expected = halfcpu.on_this_cpu("float16")
    assert (("note: OD205 would be raised on this CPU" in result.describe()) == (expected is not None))


@pytest.mark.parametrize(("arch", "key"), [("parseq", "pos_queries"), ("master", "decoder.positional_encoding.pe")])
def test_a_max_length_mismatch_names_the_hyperparameter_and_its_constructor_loads_the_weights(tmp_path, arch, key):
    path = tmp_path / f"{arch}.pt"
    torch.save(ex.doctr_state_dict(arch, max_length=40), path)
    [finding] = [f for f in api.check_paths(path, arch=arch).findings if f.rule == "OD113"]
    assert f"{arch} was trained with max_length=40" in finding.message and key in finding.message
    scope: dict = {}
    exec(compile(finding.fix, "OD113", "exec"), scope)  # the printed constructor call, as pasted
    scope["model"].load_state_dict(torch.load(path), strict=True)
    built = [t for t in api.check_paths(path, arch=arch).targets if t.kind == "model"]
    assert [t.status for t in built] == ["checked"]  # the model a deployment following the advice builds


def test_optimize_says_what_od205_would_say_of_a_half_cpu_target():
    from ocrdoctor.treat.optimize import OptimizeResult

    said = OptimizeResult(None, "cpu", "float16", (), (), 0.1).describe()
    assert ("note: OD205 would be raised on this CPU" in said) == (halfcpu.on_this_cpu("float16") is not None)
    assert "OD205" not in OptimizeResult(None, "cuda", "float16", (), (), 0.1).describe()


def test_od205_judges_the_serving_hosts_flags_when_they_are_named(monkeypatch):
    """$OCRDOCTOR_CPU_FLAGS: a CI runner with avx512_fp16 checking a model served on an AVX2 host, and back."""
    net = ex.tiny_net(dtype="float16")
    monkeypatch.setenv("OCRDOCTOR_CPU_FLAGS", "avx2")
    [finding] = findings(net, "OD205")
    assert "measured" in finding.message and "bench/bench_half_cpu.py" in finding.message
    monkeypatch.setenv("OCRDOCTOR_CPU_FLAGS", "avx2 avx512f avx512_fp16")
    assert halfcpu.native("float16") is True
    assert not findings(net, "OD205") or halfcpu.torch_release() < halfcpu.fast_from("float16")
