"""`ocrdoctor export` and `ocrdoctor check model.onnx` on real docTR exports: the export proves
itself, its verifications fail on a corrupted export, and a failure leaves nothing behind."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.anatomy.versions import fast_fusion_sound
from ocrdoctor.api import check_path
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect import ortrun
from ocrdoctor.inspect.onnx import inspect_onnx
from ocrdoctor.treat import export as export_module
from tests.conftest import codes, run

pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.slow  # exports through torch.onnx and runs onnxruntime


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def exported_det(tmp_path_factory, db_state_dict):
    """A DataParallel training checkpoint of db_mobilenet_v3_large, exported once for the module."""
    folder = tmp_path_factory.mktemp("det")
    src = folder / "train.pt"
    torch.save({"epoch": 3, "model": {f"module.{k}": v for k, v in db_state_dict.items()}}, src)
    before = _sha(src)
    result = run("export", src, "--arch", "db_mobilenet_v3_large", "-o", folder / "det.onnx", "--repeat", "1")
    assert _sha(src) == before
    return src, folder / "det.onnx", result


def test_export_writes_a_verified_model(exported_det):
    src, out, result = exported_det
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"exported db_mobilenet_v3_large to {out} (")
    assert re.search(r", float32, opset \d+, dynamic batch\)$", lines[0])  # docTR's own opset (17 before 1.0)
    assert lines[1].startswith("compared on 2 sample pages: largest difference ")
    assert "latency, batch of 2, median of 1: onnxruntime " in lines[2] and "(CPUExecutionProvider)" in lines[2]
    # The boxes found on the pair's sample pages: a random detector's map hovers at the threshold, so its boxes
    # are noise either way (the trained pair's export finds the same boxes: tests/test_compare.py).
    assert re.match(r"in words: finds (the same|other) boxes on 3 pages: \d+% of \d+ box(es)? found again", lines[3])
    assert lines[4] == ("use it with OnnxTR: from onnxtr.models import db_mobilenet_v3_large; "
                        f'model = db_mobilenet_v3_large("{out}")')
    facts = inspect_onnx(out)
    assert [p.shape for p in facts.inputs] == [("batch_size", 3, 1024, 1024)]
    assert facts.session_providers == ("CPUExecutionProvider",) and facts.runtime_error is None
    assert codes(check_path(out)) == []
    assert sorted(p.name for p in out.parent.iterdir()) == ["det.onnx", "train.pt"]


def test_export_matches_pytorch_on_another_batch_size(exported_det, db_state_dict):
    """The dynamic batch axis really works: three pages in, three maps out, equal to PyTorch's."""
    from doctr import models

    model = models.db_mobilenet_v3_large(pretrained=False, pretrained_backbone=False)
    model.load_state_dict(db_state_dict)
    model.eval().exportable = True
    x = torch.rand(3, 3, 1024, 1024)
    got = ortrun.run_isolated(exported_det[1], ["CPUExecutionProvider"], x.numpy()).output
    with torch.no_grad():
        expected = model(x)["logits"].numpy()
    assert got.shape == (3, 1, 1024, 1024)
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_onnxtr_reads_the_exports_as_docTR_does(exported_det, tmp_path):
    """OnnxTR, given the exported files, reads the same words as docTR with the checkpoint."""
    onnxtr = pytest.importorskip("onnxtr.models")
    from doctr import models

    from ocrdoctor.treat.samples import text_page, word_crop

    state = ex.doctr_state_dict("crnn_mobilenet_v3_small")
    torch.save(state, tmp_path / "reco.pt")
    assert run("export", tmp_path / "reco.pt", "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "reco.onnx",
               "--repeat", "1").exit_code == 0
    crops = [word_crop(i) for i in range(4)]
    reco = models.crnn_mobilenet_v3_small(pretrained=False, pretrained_backbone=False)
    reco.load_state_dict(state)
    expected = models.recognition_predictor(reco.eval())(crops)
    got = onnxtr.recognition_predictor(onnxtr.crnn_mobilenet_v3_small(str(tmp_path / "reco.onnx")))(crops)
    assert [w for w, _ in got] == [w for w, _ in expected]
    np.testing.assert_allclose([c for _, c in got], [c for _, c in expected], rtol=1e-4)
    maps = onnxtr.detection_predictor(onnxtr.db_mobilenet_v3_large(str(exported_det[1])))([text_page(0)])
    assert len(maps) == 1 and maps[0].ndim == 2 and maps[0].shape[1] == 5  # boxes: xmin, ymin, xmax, ymax, score


def test_custom_vocab_without_vocab_entry_exports(save, tmp_path):
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "digits.pt")
    result = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "digits.onnx", "--repeat", "1")
    assert result.exit_code == 0, result.stderr
    assert "compared on 2 sample word crops" in result.stdout
    assert ('crnn_mobilenet_v3_small("' + str(tmp_path / "digits.onnx") + '", vocab=VOCAB)  # VOCAB: the characters '
            "it was trained with (the checkpoint stores none, OD117)") in result.stdout
    assert [p.shape for p in inspect_onnx(tmp_path / "digits.onnx").outputs] == [("batch_size", "Addlogits_dim_1", 11)]


def test_fast_is_exported_reparameterized(save, tmp_path):
    src = save(ex.doctr_state_dict("fast_tiny"), "fast.pt")
    result = run("export", src, "--arch", "fast_tiny", "-o", tmp_path / "fast.onnx", "--repeat", "1")
    assert result.exit_code == 0, result.stderr
    import onnx

    convs = [n for n in onnx.load(str(tmp_path / "fast.onnx")).graph.node if n.op_type == "Conv"]
    exported = ex.reparameterized_fast_model("fast_tiny") if fast_fusion_sound() else ex.doctr_model("fast_tiny")
    assert len(convs) == sum(isinstance(m, torch.nn.Conv2d) for m in exported.modules())  # docTR 0.8: unfused


def test_fp16_export_is_verified(save, tmp_path, db_state_dict):
    src = save(db_state_dict, "det.pt")
    result = run("export", src, "--arch", "db_mobilenet_v3_large", "-o", tmp_path / "det16.onnx", "--fp16", "--repeat",
                 "1")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert re.search(r", float16, opset \d+, dynamic batch\)$", result.stdout.splitlines()[0])
    assert "tolerance 1e-02 of it" in result.stdout
    assert "note: float16 runs slower than float32 on the CPU provider" in result.stdout
    assert inspect_onnx(tmp_path / "det16.onnx").float16


def test_crashing_runtime_is_a_finding_and_nothing_is_written(save, tmp_path):
    """onnxruntime 1.32 segfaults on a float16 CRNN: OD401, exit 1, no file. Should a later
    onnxruntime run it, the export must then be written and match."""
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    out = tmp_path / "reco16.onnx"
    result = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", out, "--fp16", "--repeat", "1")
    if result.exit_code == 1:
        assert ("OD401 error   invalid-onnx: onnxruntime cannot run the model: onnxruntime crashed (SIGSEGV)"
                in result.stdout)
        assert result.stdout.startswith("not written: the export failed verification;")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["reco.pt"]
    else:
        assert result.exit_code == 0 and out.exists(), result.stdout


def test_a_corrupted_export_fails_parity_and_is_not_written(save, tmp_path, monkeypatch):
    import onnx
    from onnx import numpy_helper

    real_export = export_module.export_graph

    def corrupting(model, dummy, tmp, arch):
        real_export(model, dummy, tmp, arch)
        graph = onnx.load(str(tmp))
        last = graph.graph.initializer[-1]
        last.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(last) + 1.0, last.name))
        onnx.save(graph, str(tmp))

    monkeypatch.setattr(export_module, "export_graph", corrupting)
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    result = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "reco.onnx", "--repeat", "1")
    assert result.exit_code == 1
    assert "OD403 error   onnx-parity: onnxruntime differs from PyTorch by " in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reco.pt"]


def test_an_export_docTR_cannot_trace(save, tmp_path, monkeypatch):
    def untraceable(*args, **kwargs):
        raise RuntimeError("Could not export Python function call 'Foo'.\nScripting it may help")

    monkeypatch.setattr(torch.onnx, "export", untraceable)
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    before = _sha(src)
    result = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "reco.onnx")
    assert result.exit_code == 2
    assert result.stderr == ("ocrdoctor: error: docTR could not export crnn_mobilenet_v3_small to ONNX: "
                             "RuntimeError: Could not export Python function call 'Foo'.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reco.pt"] and _sha(src) == before


def test_unknown_architecture_is_a_usage_error(save, tmp_path):
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    result = run("export", src, "--arch", "nope", "-o", tmp_path / "x.onnx")
    assert result.exit_code == 2 and "unknown architecture 'nope'" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "x.onnx").exists()


def test_a_wrong_file_is_an_od113_finding_and_nothing_is_written(save, tmp_path):
    """The same verdict as `check --arch`: the missing and unexpected keys, exit 1."""
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    result = run("export", src, "--arch", "db_resnet50", "-o", tmp_path / "x.onnx")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("not exported: the checkpoint cannot be built as db_resnet50")
    assert "OD113 error   architecture-mismatch: does not fit db_resnet50:" in result.stdout
    assert "keys missing" in result.stdout and "unexpected" in result.stdout
    assert "it looks like crnn_mobilenet_v3_small" in result.stdout
    assert not (tmp_path / "x.onnx").exists()


def test_output_and_input_rules(save, tmp_path):
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    (tmp_path / "taken.onnx").write_bytes(b"keep me")
    taken = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "taken.onnx")
    assert taken.exit_code == 2
    assert taken.stderr == f"ocrdoctor: error: {tmp_path / 'taken.onnx'} exists (pass --force to overwrite it)\n"
    assert (tmp_path / "taken.onnx").read_bytes() == b"keep me"
    nowhere = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "no" / "x.onnx")
    assert nowhere.exit_code == 2
    assert nowhere.stderr == f"ocrdoctor: error: output folder not found: {tmp_path / 'no'}\n"
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": ex.tiny_state_dict(), "x": ex.SystemCall(f"touch {marker}")}, evil)
    refused = run("export", evil, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "e.onnx")
    assert refused.exit_code == 1 and not marker.exists() and not (tmp_path / "e.onnx").exists()
    assert "OD101 error" in refused.stdout and "posix.system (called)" in refused.stdout


def test_provider_fallback_is_seen_for_real(exported_det):
    """Asking this CPU-only onnxruntime for CUDA: the session silently falls back, OD404 says so."""
    from ocrdoctor.core.config import Settings
    from ocrdoctor.core.engine import run_rules
    from ocrdoctor.core.plan import make_plan

    facts = inspect_onnx(exported_det[1], providers=("CUDAExecutionProvider", "CPUExecutionProvider"))
    assert facts.session_providers == ("CPUExecutionProvider",)
    result = run_rules(make_plan(Settings(), ["onnx"]).rules["onnx"], facts, target="det.onnx", kind="onnx")
    assert [(f.rule, f.location) for f in result.findings] == [("OD404", "CUDAExecutionProvider")]


def test_check_finds_onnx_files_in_folders(exported_det, tmp_path):
    result = run("check", exported_det[1].parent, "--format", "json")
    assert result.exit_code == 0
    import json

    data = json.loads(result.stdout)
    kinds = {t["target"].rsplit("/", 1)[-1]: t["kind"] for t in data["targets"]}
    assert kinds == {"det.onnx": "onnx", "train.pt": "checkpoint"}


def test_a_crash_in_onnxruntime_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, -11, "", ""))
    with pytest.raises(ortrun.OrtFailure, match=r"^onnxruntime crashed \(SIGSEGV\) creating or running the session$"):
        ortrun.run_isolated(tmp_path / "m.onnx", ["CPUExecutionProvider"])


def test_disk_full_mid_export_leaves_nothing(save, tmp_path, monkeypatch):
    def writing_then_full(model, args, f, *rest, **kwargs):
        with open(f, "wb") as out:
            out.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch.onnx, "export", writing_then_full)
    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    result = run("export", src, "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "reco.onnx")
    assert result.exit_code == 2
    assert result.stderr == (f"ocrdoctor: error: could not write {tmp_path}: OSError: [Errno 28] No space left on "
                             "device\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reco.pt"]


@pytest.mark.parametrize("command", [["fix", "-o"], ["export", "--arch", "crnn_mobilenet_v3_small", "-o"]])
def test_unwritable_folder_is_refused_before_any_work(save, tmp_path, monkeypatch, command):
    """Root writes anywhere, so the permission answer is injected; the refusal path is real."""
    from ocrdoctor.treat import fix as repair

    src = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "reco.pt")
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(repair.os, "access", lambda path, mode: Path(path) != locked)
    result = run(command[0], src, *command[1:], locked / "out")
    assert result.exit_code == 2 and result.stderr == f"ocrdoctor: error: output folder not writable: {locked}\n"
    assert list(locked.iterdir()) == []
