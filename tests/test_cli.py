"""The CLI contract: exit codes, JSON keys, selection, one-line errors, colour, processes."""

from __future__ import annotations

import json
import os
import sys

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files

from ocrdoctor.checks import examples as ex
from ocrdoctor.core.registry import default
from tests.conftest import run, run_process


@pytest.fixture
def problem_files(save):
    """A folder with one warning-only file and one error file."""
    warn = save({"model": ex.tiny_state_dict()}, "models/a_wrapped.pt")
    err = save(_nan_state_dict(), "models/sub/b_nan.pth")
    (warn.parent / "notes.txt").write_text("not a checkpoint, not collected")
    return warn.parent, warn, err


def _nan_state_dict():
    sd = ex.tiny_state_dict()
    sd["0.weight"][0, 0, 0, 0] = float("nan")
    return sd


def test_folder_recursion_exit_codes_and_order(problem_files):
    folder, warn, err = problem_files
    result = run("check", folder)
    assert result.exit_code == 1
    assert result.stdout.index(str(warn)) < result.stdout.index(str(err))
    assert "notes.txt" not in result.stdout
    # both files are also OD112 (a tiny model is no docTR architecture)
    assert result.stdout.strip().endswith("Found 4 problems (1 error, 1 warning, 2 info) in 2 files.")


@pytest.mark.parametrize(("fail_on", "args", "code"), [
    ("error", ["--ignore", "OD109"], 0),
    ("warning", ["--ignore", "OD109"], 1),
    ("warning", ["--select", "OD109,OD112"], 1),
    ("info", ["--select", "OD112"], 1),
    ("error", ["--select", "OD1", "--ignore", "OD109"], 0),
])
def test_fail_on_select_ignore(problem_files, fail_on, args, code):
    folder, _, _ = problem_files
    result = run("check", folder, "--fail-on", fail_on, *args)
    assert result.exit_code == code, result.stdout


def test_json_contract(problem_files):
    folder, warn, err = problem_files
    data = json.loads(run("check", folder, "--format", "json").stdout)
    assert data["version"] == 1
    assert data["summary"] == {"error": 1, "warning": 1, "info": 2, "not_checked": 0}
    keys = {"rule", "name", "severity", "target", "message", "location", "fix", "applicability"}
    assert all(keys <= set(f) for f in data["findings"])
    od109 = next(f for f in data["findings"] if f["rule"] == "OD109")
    assert (od109["name"], od109["severity"], od109["target"]) == ("non-finite-weights", "error", str(err))
    assert [t["target"] for t in data["targets"]] == [str(warn), str(err)]
    assert data["targets"][0]["facts"]["weights_key"] == "model"


@pytest.mark.parametrize(("args", "message"), [
    (["check", "does/not/exist.pt"], "path not found: does/not/exist.pt"),
    (["check", "."] + ["--select", "OD999"], "unknown rule code or prefix 'OD999'"),
    (["check", "x.pt", "--format", "xml"], "Invalid value for '--format'"),
    (["check", "x.pt", "--arch", "resnet9000"], "unknown architecture 'resnet9000'"),
    (["check"], "nothing to check: give PATHS, or --det/--det-arch/--reco/--reco-arch"),
    (["explain", "OD999"], "unknown rule code 'OD999'"),
    (["frobnicate"], "No such command 'frobnicate'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.pt").write_bytes(b"")
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("ocrdoctor: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_help_version_and_bare_command():
    assert run("--help").exit_code == 0 and "check" in run("--help").stdout
    assert run("--version").stdout.startswith("ocrdoctor, version ")
    bare = run()
    assert bare.exit_code == 2 and bare.stderr.startswith("Usage: ocrdoctor") and "error" not in bare.stderr


def test_empty_folder_says_so(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    result = run("check", tmp_path)
    assert result.exit_code == 2
    assert f"no checkpoints or ONNX exports in {tmp_path} (1 file skipped)" in result.stderr


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, b"hello world\n", b"PK\x03\x04garbage"])
def test_unreadable_files_are_od100_findings_not_crashes(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    result = run("check", path, "--format", "json")
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["rule"] == "OD100" and "\n" not in finding["message"]
    assert path.read_bytes() == content


def test_rules_and_explain():
    listing = run("rules")
    assert listing.exit_code == 0
    for code in default.load().rules:
        assert code in listing.stdout
    rules_json = json.loads(run("rules", "--format", "json").stdout)
    od103 = next(r for r in rules_json if r["code"] == "OD103")
    assert od103["name"] == "training-state" and od103["docs"]["Fix"]
    page = run("explain", "od103").stdout
    for section in ("## What it detects", "## Why it matters", "## Fix", "## Example"):
        assert section in page
    archs = run("rules", "--archs").stdout
    assert "fast_base" in archs and "reparameterized" in archs and "parseq" in archs


def test_process_run_no_color_and_module_entry(problem_files):
    folder, _, _ = problem_files
    env = {**os.environ, "NO_COLOR": "1"}
    proc = run_process("check", folder, env=env)
    assert proc.returncode == 1
    assert "\x1b[" not in proc.stdout and "OD109 error" in proc.stdout
    assert proc.stderr == ""


def test_color_only_on_a_terminal(monkeypatch, problem_files):
    folder, _, _ = problem_files
    monkeypatch.setattr("ocrdoctor.cli.common.use_color", lambda stream=None: True)
    assert "\x1b[31m" in run("check", folder).stdout
    monkeypatch.undo()
    assert "\x1b[" not in run("check", folder).stdout


@pytest.mark.slow
def test_demo_shows_the_training_checkpoint_problems(tmp_path):
    proc = run_process("demo", "--out", tmp_path, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert sorted({f["rule"] for f in data["findings"]}) == ["OD103", "OD104", "OD105", "OD106"]
    assert (tmp_path / "det_epoch12.pt").exists()
    text = run_process("demo")
    assert text.returncode == 0 and "OD105 warning wrapper-prefix" in text.stdout
    assert "verified: reloads weights-only; 384 tensors bit-identical" in text.stdout
    assert "No problems found in 1 file." in text.stdout  # the repaired file
    lines = text.stdout.rstrip().splitlines()
    verdict = lines.index("No problems found in 3 pages.")  # the repaired detector reads what the pair reads
    assert lines[verdict + 1].startswith("reads the same on 3 pages: ")
    assert lines[verdict + 1].split(": ")[1].split()[0] not in ("0/0",)
    assert lines[verdict + 2].startswith("the base: ") and "true words read right" in lines[verdict + 2]
    # the story's structure on stdout, in order: `ocrdoctor demo > log` keeps it
    headers = [x for x in lines if x.startswith(("$ ocrdoctor", ">>> "))]
    assert [h.split()[2] if h.startswith("$") else ">>>" for h in headers] == [">>>", "check", "fix", "check",
                                                                               "compare"]
    read, true, right = lines[1:4]
    assert read.startswith("read: ") and true.startswith("true: ") and "true words on the page read right" in right
    assert " s -> " not in text.stdout  # no time comparison from one run


def test_a_url_without_the_remote_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # not installed
    result = run("check", "https://user:secret@example.com/models/det.pt?sig=abc")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "pip install 'ocrdoctor[remote]'" in result.stderr and "secret" not in result.stderr + result.stdout
    assert "sig=abc" not in result.stderr
