"""`ocrdoctor bench` end to end: the ladder of fixes on real docTR predictors, as a table and JSON."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.environment import inspect_environment
from tests.conftest import run, run_process


def test_the_seed_scenario_as_a_process():
    """float64, unfused FAST, oversubscribed threads: each fix gets its row, ONNX Runtime last."""
    usable = inspect_environment().cpus_usable
    proc = run_process("bench", "--dtype", "float64", "--threads", usable + 2, "--repeat", "1", "--words", "4",
                       "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    names = [r["variant"] for r in data["rows"]]
    assert names == ["as given", "+ float32", "+ FAST reparameterized", f"+ torch.set_num_threads({usable})",
                     "+ ONNX Runtime (float32 export)"]
    assert data["version"] == 1 and data["pages"] == 1 and data["words_per_page"] == 4
    rows = data["rows"]
    assert rows[0]["speedup"] == 1.0 and rows[0]["step"] == 1.0
    for before, row in zip(rows, rows[1:]):
        assert math.isclose(row["speedup"], before["speedup"] * row["step"], rel_tol=1e-9)
        assert math.isclose(row["pages_per_second"], 1 / row["seconds_per_page"])
    assert rows[1]["step"] > 1.5  # float64 -> float32 is a large gain on any CPU
    assert "+ eval mode (already in eval mode)" in data["skipped"]


@pytest.fixture
def checkpoints(save):
    det = save(ex.doctr_state_dict("db_mobilenet_v3_large"), "det.pt")
    reco = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789")}, "reco.pt")
    return det, reco


def test_bench_from_checkpoints_with_a_progress_bar(checkpoints, monkeypatch):
    monkeypatch.setattr("ocrdoctor.cli.is_terminal", lambda stream=None: True)
    det, reco = checkpoints
    result = run("bench", "--det", det, "--det-arch", "db_mobilenet_v3_large", "--reco", reco,
                 "--reco-arch", "crnn_mobilenet_v3_small", "--train", "--repeat", "1", "--words", "4", "--no-onnx")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "OCRPredictor on cpu: 1 synthetic page(s), 4 word crops per page, median of 1"
    assert lines[1].split() == ["variant", "pages/s", "ms/page", "step", "total"]
    assert lines[2].startswith("as given ") and lines[3].startswith("+ eval mode ")
    assert "not applicable: + ONNX Runtime (float32 export) (left out (--no-onnx))" in lines
    assert "timing [----------" in result.stderr and "1/2 + eval mode" in result.stderr
    assert torch.get_num_threads() >= 1


@pytest.mark.parametrize(("args", "message"), [
    (["--det", "x.pt"], "--det and --reco go together"),
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
