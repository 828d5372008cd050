"""`ocrdoctor bench` end to end: the ladder of fixes on real docTR predictors, as a table and JSON."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.anatomy.versions import fast_fusion_sound
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.environment import inspect_environment
from tests.conftest import run, run_process

pytestmark = pytest.mark.slow  # ocrdoctor bench: every rung times and reads real predictors


def test_the_seed_scenario_as_a_process():
    """float64, unfused FAST, oversubscribed threads: each fix gets its row, ONNX Runtime last."""
    usable = inspect_environment().cpus_usable
    proc = run_process("bench", "--dtype", "float64", "--threads", usable + 2, "--repeat", "1", "--words", "4",
                       "--no-read", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    names = [r["variant"] for r in data["rows"]]
    fused = ["+ FAST reparameterized"] if fast_fusion_sound() else []  # docTR 0.8's fusion changes the outputs
    assert names == ["as given", "+ float32", *fused, f"+ torch.set_num_threads({usable})",
                     "+ ONNX Runtime (float32 export)"]
    if not fused:
        assert any(s.startswith("+ FAST reparameterized (docTR 0.8's FAST") for s in data["skipped"])
    assert data["version"] == 1 and data["pages"] == 1 and data["words_per_page"] == 4
    rows = data["rows"]
    assert rows[0]["speedup"] == 1.0 and rows[0]["step"] == 1.0
    for before, row in zip(rows, rows[1:], strict=False):
        assert row["measurable"]  # one timed run: no spread, so every step counts
        assert math.isclose(row["speedup"], before["speedup"] * row["step"], rel_tol=1e-9)
        assert row["words_total"] is None and not row["reads_differently"]  # --no-read
        assert math.isclose(row["pages_per_second"], 1 / row["seconds_per_page"])
    assert all(r["seconds_per_page"] > 0 for r in rows)  # the gains themselves: bench/bench_fixes.py
    assert "+ eval mode (already in eval mode)" in data["skipped"]


@pytest.fixture
def checkpoints(save):
    det = save(ex.doctr_state_dict("db_mobilenet_v3_large"), "det.pt")
    reco = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789")}, "reco.pt")
    return det, reco


def test_bench_from_checkpoints_with_a_progress_bar(checkpoints, monkeypatch):
    monkeypatch.setattr("ocrdoctor.cli.common.is_terminal", lambda stream=None: True)
    det, reco = checkpoints
    result = run("bench", "--det", det, "--det-arch", "db_mobilenet_v3_large", "--reco", reco,
                 "--reco-arch", "crnn_mobilenet_v3_small", "--train", "--repeat", "1", "--words", "4", "--no-onnx",
                 "--no-read")  # random weights read thousands of boxes on the sample pages: the words are tested below
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "OCRPredictor on cpu: 1 synthetic page(s), 4 word crops per page, median of 1"
    assert lines[1].split() == ["variant", "pages/s", "ms/page", "min-max", "step", "total", "words"]
    assert lines[2].startswith("as given ") and lines[3].startswith("+ eval mode ")
    assert "not applicable: + ONNX Runtime (float32 export) (--no-onnx)" in lines
    assert "timing [----------" in result.stderr and "1/2 + eval mode" in result.stderr
    assert torch.get_num_threads() >= 1


def test_the_trained_pair_reads_the_same_after_each_fix_and_the_eval_step_is_flagged():
    """The words column: every row reads the pair's sample pages; leaving training mode changes the words
    (flagged, and said to be expected), float32 and the ONNX export read as the row before."""
    pytest.importorskip("onnxruntime")
    import ocrdoctor
    from ocrdoctor.treat.bench import bench
    from ocrdoctor.treat.proof import read_samples

    predictor = ocrdoctor.trained_predictor().to(torch.float64)
    for part in (predictor.det_predictor, predictor.reco_predictor):
        for layer in part.model.children():
            layer.train(True)
    result = bench(predictor, words=4, repeat=1)
    rows = {r.variant: r for r in result.rows}
    assert list(rows) == ["as given", "+ eval mode", "+ float32", "+ ONNX Runtime (float32 export)"]
    truth = sum(len(p.words) for p in read_samples(ocrdoctor.trained_predictor()).pages)
    assert rows["as given"].words_total == rows["as given"].words_same > 0
    assert rows["+ eval mode"].reads_differently and rows["+ eval mode"].words_changed
    for name in ("+ float32", "+ ONNX Runtime (float32 export)"):
        assert not rows[name].reads_differently and rows[name].words_same == rows[name].words_total == truth
    assert result.changed_text == (rows["+ eval mode"],)
    table = result.table()
    assert "words: the 3 sample pages read after each step, against the row before" in table
    assert "+ eval mode changed the words read: -" in table and "(expected: in training mode" in table
    assert f"{truth}/{truth}" in table and f"{truth}/{truth} !" not in table
    data = result.to_dict()
    assert data["read_on"] == "3 sample pages" and data["rows"][1]["reads_differently"] is True
    assert not predictor.det_predictor.model.exportable  # the models are left as the ladder leaves them
    before, after = result.stages  # the whole predictor stage by stage, as given (float64, training) and fixed
    assert (before.label, after.label) == ("as given", "after the fixes")
    assert after.total.median < before.total.median and after.seconds["detection"] < before.seconds["detection"]
    assert "stage by stage: the whole predictor on the 3 sample pages" in table and "after the fixes" in table
    assert [s["label"] for s in data["stages"]] == ["as given", "after the fixes"]


def test_a_step_whose_spread_includes_no_change_is_left_out_of_the_total():
    from ocrdoctor.core.timing import Spread
    from ocrdoctor.treat.bench import next_row

    rows = [next_row("as given", Spread(0.9, 1.0, 1.1), [])]
    rows.append(next_row("+ noise", Spread(0.95, 0.97, 1.2), rows))  # 1.03x by medians, 0.75x-1.16x by spread
    rows.append(next_row("+ real", Spread(0.45, 0.5, 0.55), rows))   # 1.94x by medians, 1.73x-2.67x
    assert not rows[1].measurable and rows[1].speedup == 1.0 and math.isclose(rows[1].step, 1.0 / 0.97)
    assert rows[2].measurable and math.isclose(rows[2].speedup, 0.97 / 0.5)  # the noise is not multiplied in
    assert math.isclose(rows[2].step_range[0], 0.95 / 0.55) and math.isclose(rows[2].step_range[1], 1.2 / 0.45)
    assert rows[1].line(False).split()[5] == "1.03x~"


@pytest.mark.parametrize(("args", "message"), [
    (["--det", "x.pt"], "path not found: x.pt"),
    (["--det-arch", "nope"], "unknown architecture 'nope'"),
    (["--dtype", "int8"], "Invalid value for '--dtype'"),
])
def test_bad_options_are_one_line(args, message):
    result = run("bench", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_a_checkpoint_that_does_not_fit_is_refused(checkpoints):
    det, reco = checkpoints
    result = run("bench", "--det", reco, "--det-arch", "db_mobilenet_v3_large", "--reco", reco)
    assert result.exit_code == 2
    assert result.stderr.startswith("ocrdoctor: error: ") and "db_mobilenet_v3_large" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def _blank_detector() -> dict:
    """A DBNet whose probability map is 0 everywhere: no words, so a page costs its detection passes alone."""
    state = ex.doctr_state_dict("db_mobilenet_v3_large")
    state["prob_head.6.weight"].zero_()
    state["prob_head.6.bias"].fill_(-30.0)
    return state


def test_page_options_are_timed_on_the_users_predictor(checkpoints, save):
    """Each costly option gets a row, turned off by the statement OD212 prints."""
    from ocrdoctor.anatomy.pageoptions import DISABLE_FLAGS, doctr_release

    det, reco = save(_blank_detector(), "blank-det.pt"), checkpoints[1]
    rotated = doctr_release() >= DISABLE_FLAGS  # docTR 0.8-0.9: no disable flag, and a blank page fails rotated
    result = run("bench", "--det", det, "--det-arch", "db_mobilenet_v3_large", "--reco", reco,
                 "--reco-arch", "crnn_mobilenet_v3_small", "--straighten-pages", *(["--rotated"] if rotated else []),
                 "--repeat", "1", "--words", "4", "--no-onnx", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["pipeline"]
    assert [r["variant"] for r in rows] == ["as given", "- straighten_pages=True",
                                            *(["- assume_straight_pages=False"] if rotated else [])]
    # Turning straighten_pages off runs detection once instead of twice; how much faster that is, is
    # bench's to measure (bench/bench_fixes.py), not a unit test's: here, that each row was timed.
    assert all(r["seconds_per_page"] > 0 and r["fastest"] <= r["seconds_per_page"] <= r["slowest"] for r in rows)


def test_bench_restores_the_page_options():
    from ocrdoctor.anatomy.pageoptions import DISABLE_FLAGS, doctr_release
    from ocrdoctor.treat.bench import bench

    predictor = ex.ocr_predictor(straighten_pages=True, assume_straight_pages=False)
    predictor.det_predictor.model.load_state_dict(_blank_detector())
    crop = predictor.crop_orientation_predictor
    result = bench(predictor, words=2, repeat=1, onnx=False)
    if doctr_release() >= DISABLE_FLAGS:
        assert len(result.pipeline) == 3 and "page options (OD212)" in result.table()
    else:  # docTR 0.8-0.9 fail on a page without words when assume_straight_pages=False: said, not raised
        assert result.pipeline == () and any("the whole predictor fails" in s for s in result.skipped)
    assert predictor.straighten_pages and predictor.crop_orientation_predictor is crop


def test_gpu_script_cpu_path():
    """bench/gpu.sh, the script for a lent GPU machine, runs end to end on this CPU machine (--quick)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(["bash", str(root / "bench" / "gpu.sh"), "--quick"], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHON": sys.executable}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for header in ("== versions", "== environment facts", "== seed comparison", "== OD204 / OD211",
                   "== GPU-only tests"):
        assert header in out
    assert "failed with" not in out
    [line] = [line for line in out.splitlines() if line.startswith('{"arch"')]
    measured = json.loads(line)
    if measured["crash"] is None:  # torch 2.4's CPU LSTM has no bfloat16 kernel: that crash is a measurement too
        assert measured["nonfinite"] == 0 and measured["max_abs_diff"] < 0.1
    else:
        assert measured["crash"].startswith("RuntimeError: ")
    from ocrdoctor.inspect.model import native_cpu_bf16

    [verdict] = [line for line in out.splitlines() if line.startswith("crnn_mobilenet_v3_small bfloat16 on cpu:")]
    assert "OD210" in verdict.split()  # random weights: untrained
    assert ("OD205" in verdict.split()) == (native_cpu_bf16() is False)
