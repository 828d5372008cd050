"""OnnxTR deployments, live (issue 18): real OnnxTR predictors over ocrdoctor's own exports of the trained
pair, each problem provoked for real on this CPU, and each printed fix executed: the rebuilt predictor is
diagnosed again and reads the sample page."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxtr")

pytestmark = pytest.mark.slow  # exports the pair and builds OnnxTR sessions

ort = pytest.importorskip("onnxruntime")

import ocrdoctor  # noqa: E402
from ocrdoctor.core.config import Settings  # noqa: E402
from ocrdoctor.run.plan import plan_for  # noqa: E402
from ocrdoctor.treat.export import export_onnx  # noqa: E402

PLAN = plan_for(Settings(), ("checkpoint", "onnx"))
from tests.conftest import run, run_process  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The trained pair exported as a team would, with the CLI: det.onnx (512x512) and reco.onnx (its vocab
    recorded), and the "use it with OnnxTR" line each export printed."""
    det, det_arch, reco, reco_arch = ocrdoctor.trained_pair()
    folder = tmp_path_factory.mktemp("exports")
    out, lines = [], []
    for source, arch, name in ((det, det_arch, "det.onnx"), (reco, reco_arch, "reco.onnx")):
        result = run("export", source, "--arch", arch, "-o", folder / name, "--repeat", "1")
        assert result.exit_code == 0, result.stderr
        out.append(folder / name)
        lines += [x.removeprefix("use it with OnnxTR: ") for x in result.stdout.splitlines()
                  if x.startswith("use it with OnnxTR: ")]
    return tuple(out), tuple(lines)


@pytest.fixture(scope="module")
def exports(exported):
    return exported[0]


def _vocab(path) -> str:
    return dict(ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map)["vocab"]


def _codes(report) -> list[str]:
    return sorted({f.rule for f in report.findings})


def _rebuilt(finding):
    """The printed fix, executed as pasted: the predictor it builds."""
    namespace: dict = {}
    exec(compile(finding.fix, f"<{finding.rule} fix>", "exec"), namespace)  # noqa: S102
    return namespace["predictor"]


def _words(predictor) -> list[str]:
    from ocrdoctor.treat.pages import load_pages

    page = load_pages(None)[0].image
    return [w.value for b in predictor([page]).pages[0].blocks for line in b.lines for w in line.words]


def test_onnxtr_as_documented_fails_on_a_512_export_and_the_printed_fix_reads(exports):
    """OnnxTR's db_mobilenet_v3_large expects 1024x1024; our export is 512x512 (OD505, and the arena OD503)."""
    from onnxtr.models import crnn_mobilenet_v3_small, db_mobilenet_v3_large, ocr_predictor

    det, reco = exports
    predictor = ocr_predictor(db_mobilenet_v3_large(str(det)), crnn_mobilenet_v3_small(str(reco), vocab=_vocab(reco)))
    with pytest.raises(Exception, match="invalid dimensions"):
        _words(predictor)  # the finding is real: the first page fails
    report = ocrdoctor.diagnose(predictor, environment=False)
    assert _codes(report) == ["OD503", "OD505"]
    fixes = {f.fix for f in report.findings}
    assert len(fixes) == 1  # one program makes every fix together
    fixed = _rebuilt(report.findings[0])
    assert _codes(ocrdoctor.diagnose(fixed, environment=False)) == []
    words = _words(fixed)
    docTR = _words(ocrdoctor.trained_predictor())
    same = sum(a == b for a, b in zip(sorted(words), sorted(docTR), strict=False))
    assert len(words) >= 30 and same >= 0.9 * len(docTR), (words, docTR)  # OnnxTR reads what docTR reads


def _fitted(det, reco, **engine):
    """A predictor over the exports built as `rebuild_program` builds it: the baseline of each provocation."""
    from onnxtr.models import EngineConfig, crnn_mobilenet_v3_small, db_mobilenet_v3_large, ocr_predictor

    def shrink(run):
        run.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        return run

    config = EngineConfig(run_options_provider=shrink, **engine)
    det_model = db_mobilenet_v3_large(str(det), engine_cfg=config)
    det_model.cfg = {**det_model.cfg, "input_shape": (3, 512, 512)}
    return ocr_predictor(det_model, crnn_mobilenet_v3_small(str(reco), engine_cfg=config, vocab=_vocab(reco)))


def test_threads_above_what_this_process_may_use(exports):
    from ocrdoctor.inspect.environment import inspect_environment

    usable = inspect_environment().cpus_usable
    options = ort.SessionOptions()
    options.intra_op_num_threads = usable + 6
    report = ocrdoctor.diagnose(_fitted(*exports, session_options=options), environment=False)
    assert _codes(report) == ["OD502"]
    assert f"starts {usable + 6} threads (intra_op_num_threads={usable + 6})" in report.findings[0].message
    fixed = _rebuilt(report.findings[0])
    assert fixed.det_predictor.model.session_options.intra_op_num_threads == usable
    assert _codes(ocrdoctor.diagnose(fixed, environment=False)) == [] and _words(fixed)


def test_a_file_given_to_another_architecture_class(exports):
    from onnxtr.models import crnn_mobilenet_v3_small, db_resnet50, ocr_predictor

    det, reco = exports
    predictor = ocr_predictor(db_resnet50(str(det)), crnn_mobilenet_v3_small(str(reco), vocab=_vocab(reco)))
    report = ocrdoctor.diagnose(predictor, environment=False, select=["OD505"])
    [finding] = report.findings
    assert "exported as db_mobilenet_v3_large but is loaded as db_resnet50" in finding.message
    fixed = _rebuilt(finding)
    assert type(fixed.det_predictor.model).__name__ == "DBNet" and _words(fixed)
    assert list(ocrdoctor.diagnose(fixed, environment=False, select=["OD505"]).findings) == []


def test_pre_processing_that_drifted_from_the_models_own(exports):
    det, reco = exports
    predictor = _fitted(det, reco)
    predictor.reco_predictor.pre_processor.normalize.mean = (0.5, 0.5, 0.5)  # a service's own "fix"
    report = ocrdoctor.diagnose(predictor, environment=False)
    [finding] = report.findings
    assert finding.rule == "OD506" and "recorded config" in finding.message
    assert _codes(ocrdoctor.diagnose(_rebuilt(finding), environment=False)) == []


def test_an_8_bit_fast_has_no_onnxtr_model_to_lean_on(save, tmp_path):
    """onnxruntime.quantization on a FAST export: OnnxTR ships no 8-bit FAST (OD504)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxtr.models import fast_tiny

    from ocrdoctor.checks import examples as ex

    checkpoint = save(ex.doctr_state_dict("fast_tiny"), "fast.pt")
    export_onnx(checkpoint, "fast_tiny", tmp_path / "fast.onnx", plan=PLAN, repeat=1)
    quantize_dynamic(str(tmp_path / "fast.onnx"), str(tmp_path / "fast-int8.onnx"), weight_type=QuantType.QInt8)
    report = ocrdoctor.diagnose(fast_tiny(str(tmp_path / "fast-int8.onnx")), environment=False, select=["OD504"])
    [finding] = report.findings
    assert "8-bit graph, and OnnxTR has no 8-bit fast_tiny" in finding.message
    plain = ocrdoctor.diagnose(fast_tiny(str(tmp_path / "fast.onnx")), environment=False, select=["OD504"])
    assert list(plain.findings) == []


def test_check_builds_the_onnxtr_deployment_from_the_files(exports):
    det, reco = exports
    proc = run_process("check", "--det", det, "--det-arch", "db_mobilenet_v3_large", "--reco", reco,
                       "--reco-arch", "crnn_mobilenet_v3_small", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [t["kind"] for t in data["targets"]] == ["onnx", "onnx", "onnxtr", "environment"]
    assert {f["rule"] for f in data["findings"]} == {"OD503"}  # built with each file's own config: no OD505
    mixed = run("check", "--det", det, "--det-arch", "db_mobilenet_v3_large",
                "--reco", ocrdoctor.trained_pair()[2], "--reco-arch", "crnn_mobilenet_v3_small")
    assert mixed.exit_code == 2 and "not both: --det is an ONNX export, --reco is a checkpoint" in mixed.stderr
    half = run("check", "--reco", reco, "--reco-arch", "crnn_mobilenet_v3_small", "--half")
    assert half.exit_code == 2 and "ocrdoctor export --fp16" in half.stderr
    alone = run("check", "--reco", reco, "--reco-arch", "crnn_mobilenet_v3_small", "--format", "json")
    assert json.loads(alone.stdout)["targets"][1]["target"] == "OnnxTR RecognitionPredictor"


def test_the_onnxtr_lines_export_prints_run_as_pasted_and_read(exported):
    """export's "use it with OnnxTR" line gives the model its own input size and vocab: pasted as printed,
    the predictor over both reads the sample page, and the OD5xx rules find nothing but the arena."""
    from onnxtr.models import ocr_predictor

    _, lines = exported
    assert len(lines) == 2 and "'input_shape': (3, 512, 512)" in lines[0] and "vocab='0123456789" in lines[1]
    models = []
    for line in lines:
        namespace: dict = {}
        exec(line, namespace)  # noqa: S102
        models.append(namespace["model"])
    predictor = ocr_predictor(*models)
    assert len(_words(predictor)) >= 30
    assert _codes(ocrdoctor.diagnose(predictor, environment=False)) == ["OD503"]


def test_bench_on_the_onnxtr_deployment_reads_each_rung(exports):
    """Threads above the CPUs as given: the threads rung, the arena rung, and an 8-bit rung whose words are read."""
    from ocrdoctor.inspect.environment import inspect_environment

    det, reco = exports
    usable = inspect_environment().cpus_usable
    result = run("bench", "--det", det, "--det-arch", "db_mobilenet_v3_large", "--reco", reco,
                 "--reco-arch", "crnn_mobilenet_v3_small", "--threads", usable + 4, "--repeat", "1", "--words", "4",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {r["variant"]: r for r in data["rows"]}
    assert list(rows) == ["as given", f"+ intra_op_num_threads={usable}", "+ arena shrunk on each run",
                          "+ 8-bit (quantize_dynamic)"]
    assert data["predictor"] == "OnnxTR OCRPredictor" and data["read_on"] == "3 sample pages"
    total = rows["as given"]["words_total"]
    assert total >= 100 and all(r["words_total"] == total for r in rows.values())
    assert not rows[f"+ intra_op_num_threads={usable}"]["reads_differently"]  # threads never change the text
    refused = run("bench", "--det", det, "--det-arch", "db_mobilenet_v3_large", "--dtype", "float16")
    assert refused.exit_code == 2 and "ocrdoctor export --fp16" in refused.stderr


def test_a_float16_export_on_the_cpu_provider(tmp_path):
    """export --fp16 is for GPU serving: on the CPU provider OD504 says it is slower there."""
    from onnxtr.models import db_mobilenet_v3_large

    det, det_arch, _, _ = ocrdoctor.trained_pair()
    export_onnx(det, det_arch, tmp_path / "det-fp16.onnx", plan=PLAN, fp16=True, repeat=1)
    model = db_mobilenet_v3_large(str(tmp_path / "det-fp16.onnx"))
    report = ocrdoctor.diagnose(model, environment=False, select=["OD504"])
    [finding] = report.findings
    assert finding.message == "the detection model is float16 on CPUExecutionProvider: slower than float32 there"


def test_a_recognizer_given_another_vocab(exports):
    """The pair's recognizer loaded with OnnxTR's default vocab (what its class uses when none is given):
    the graph's classes do not fit (OD505); the program rebuilds it with the vocab the export records."""
    from onnxtr.models import crnn_mobilenet_v3_small, db_mobilenet_v3_large, ocr_predictor

    det, reco = exports
    wrong = crnn_mobilenet_v3_small(str(reco))
    assert len(wrong.vocab) + 1 != len(_vocab(reco)) + 1  # the default vocab is not the pair's
    detector = db_mobilenet_v3_large(str(det))
    detector.cfg = {**detector.cfg, "input_shape": (3, 512, 512)}
    report = ocrdoctor.diagnose(ocr_predictor(detector, wrong), environment=False, select=["OD505"])
    [finding] = report.findings
    assert (f"has {len(_vocab(reco)) + 1} output classes, a vocab of {len(_vocab(reco))}, but was given a vocab of "
            f"{len(wrong.vocab)}") in finding.message
    fixed = _rebuilt(finding)
    assert fixed.reco_predictor.model.vocab == _vocab(reco)
    assert list(ocrdoctor.diagnose(fixed, environment=False, select=["OD505"]).findings) == [] and _words(fixed)


def test_costly_page_options_on_an_onnxtr_predictor(exports):
    """OD212 reads OnnxTR's predictors as docTR's: each printed statement, executed, turns its option off."""
    from onnxtr.models import crnn_mobilenet_v3_small, db_mobilenet_v3_large, ocr_predictor
    from onnxtr.models.classification.predictor import OrientationPredictor

    det, reco = exports
    detector = db_mobilenet_v3_large(str(det))
    detector.cfg = {**detector.cfg, "input_shape": (3, 512, 512)}
    # offline, OnnxTR cannot download its orientation classifiers: built disabled, then a real session stands in
    # for the crop classifier, so the options cost what they would
    predictor = ocr_predictor(detector, crnn_mobilenet_v3_small(str(reco), vocab=_vocab(reco)),
                              assume_straight_pages=False, straighten_pages=True, detect_orientation=True,
                              disable_crop_orientation=True, disable_page_orientation=True)
    predictor.crop_orientation_predictor = OrientationPredictor(None, predictor.reco_predictor.model)
    report = ocrdoctor.diagnose(predictor, environment=False, select=["OD212"])
    assert [f.message.split(" ")[0] for f in report.findings] == [
        "straighten_pages=True", "detect_orientation=True", "assume_straight_pages=False"]
    for finding in report.findings:
        assert "doctr" not in finding.fix.replace("onnxtr", "")  # OnnxTR's own imports, never docTR's
        exec(compile(finding.fix, "<OD212 fix>", "exec"), {"predictor": predictor})  # noqa: S102
    assert list(ocrdoctor.diagnose(predictor, environment=False, select=["OD212"]).findings) == []
    assert predictor.crop_orientation_predictor.model is None and _words(predictor)
    arena = ocrdoctor.diagnose(predictor, environment=False, select=["OD503"]).findings[0]  # no run options here
    rebuilt = _rebuilt(arena)  # the OD5xx program keeps the page options the predictor has
    assert "assume_straight_pages=False" in arena.fix and rebuilt.assume_straight_pages is False
    assert rebuilt.crop_orientation_predictor.model is None and _words(rebuilt)
