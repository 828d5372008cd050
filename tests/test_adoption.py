"""The adoption kit works as written: the pre-commit hook and the CI examples' commands run."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files
import yaml

from ocrdoctor.checks import examples as ex
from tests.conftest import run

ROOT = Path(__file__).resolve().parents[1]


def _ocrdoctor_commands(workflow: dict) -> list[str]:
    steps = [s for job in workflow.values() if isinstance(job, dict) for s in job.get("steps", [])]
    jobs = [job for job in workflow.values() if isinstance(job, dict)]
    runs = [s["run"] for s in steps if "run" in s] + [c for job in jobs for c in job.get("script", [])]
    return [r for r in runs if r.startswith("ocrdoctor ")]


@pytest.fixture
def models(tmp_path, save, monkeypatch):
    save({"model": ex.tiny_state_dict()}, "models/det.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "models"


def _run_line(line: str):
    """Run an `ocrdoctor ...` shell line; returns (result, redirect target or None)."""
    command, _, target = line.partition(">")
    return run(*shlex.split(command)[1:]), target.strip() or None


def test_pre_commit_hook(models):
    from ocrdoctor.read.shards import INDEX_SUFFIXES
    from ocrdoctor.read.sniff import CHECKPOINT_SUFFIXES

    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "ocrdoctor" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    for suffix in (*CHECKPOINT_SUFFIXES, ".onnx", *INDEX_SUFFIXES):  # every name a folder check reads
        assert pattern.search(f"models/best{suffix}"), suffix
    assert not pattern.search("train.py") and not pattern.search("model.onnx.txt")
    assert not pattern.search("config.json") and not pattern.search("tokenizer.json")
    # pre-commit runs `entry` with the staged file names appended
    result, _ = _run_line(f"{hook['entry']} {models / 'det.pt'}")
    assert result.exit_code == 0 and "OD104" in result.stdout
    (models / "bad.pt").write_bytes(b"truncated")
    result, _ = _run_line(f"{hook['entry']} {models / 'bad.pt'}")
    assert result.exit_code == 1


def test_every_snippet_pins_this_version_and_installs_from_the_repository():
    """No snippet names a package index that does not serve ocrdoctor; each pins the released tag."""
    from ocrdoctor import __version__

    tag = f"v{__version__}"
    ci = (ROOT / "docs/ci.md").read_text()
    assert f"rev: {tag}" in ci and f"ocrdoctor/ocrdoctor@{tag}" in ci
    workflow = yaml.safe_load((ROOT / "docs/examples/github-workflow.yml").read_text())
    [step] = [s for s in workflow["jobs"]["check-models"]["steps"] if s.get("uses", "").startswith("ocrdoctor/")]
    assert step["uses"] == f"ocrdoctor/ocrdoctor@{tag}"
    gitlab = yaml.safe_load((ROOT / "docs/examples/gitlab-ci.yml").read_text())
    [install] = [line for line in gitlab["ocrdoctor"]["script"] if line.startswith("pip install")]
    assert f"git+https://github.com/ocrdoctor/ocrdoctor@{tag}" in install
    for text in (ci, (ROOT / "README.md").read_text(), *(p.read_text() for p in (ROOT / "docs/examples").glob("*"))):
        assert not re.search(r"pip install (-U )?ocrdoctor(\s|$|\[)", text)  # a name no index serves


def _action(tmp_path: Path, inputs: dict, monkeypatch) -> tuple[int, str]:
    """action.yml's steps through tools/run_action.py; the install step is .ci/run's to test (with a wheel),
    so here the venv it would create holds this environment's ocrdoctor."""
    import os
    import subprocess
    import sys
    import tempfile

    temp = Path(tempfile.mkdtemp(dir=tmp_path, prefix="runner-temp-"))
    (temp / "ocrdoctor-venv" / "bin").mkdir(parents=True)
    (temp / "ocrdoctor-venv" / "bin" / "ocrdoctor").symlink_to(Path(sys.executable).with_name("ocrdoctor"))
    args = [sys.executable, str(ROOT / "tools/run_action.py"), str(ROOT / "action.yml"), "--skip", "Install ocrdoctor",
            "--runner-temp", str(temp), *(f"--input={k}={v}" for k, v in inputs.items())]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=os.environ)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_github_action_uploads_sarif_then_gates(models, tmp_path, monkeypatch):
    import json

    workflow = yaml.safe_load((ROOT / "docs/examples/github-workflow.yml").read_text())
    [step] = [s for s in workflow["jobs"]["check-models"]["steps"] if s.get("uses", "").startswith("ocrdoctor/")]
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(step["with"]) <= set(action["inputs"]) and action["runs"]["using"] == "composite"
    install = action["runs"]["steps"][0]["run"]
    assert "${PACKAGE:-$ACTION_PATH}" in install  # from the action's own checkout unless told otherwise
    code, log = _action(tmp_path, step["with"], monkeypatch)
    assert code == 1, log  # OD104 is a warning and the workflow gates on warnings
    assert "models/det.pt: OD104 [warning]" in log  # one line per finding in the job's log
    sarif = json.loads((tmp_path / "ocrdoctor.sarif").read_text())
    ids = [r["ruleId"] for r in sarif["runs"][0]["results"]]
    assert "OD104" in ids  # every finding goes to code scanning; the gate decides on fail-on
    assert f"would upload ocrdoctor.sarif (SARIF 2.1.0, {len(ids)} results)" in log
    assert log.index("would upload") < log.index("== Gate: exit 1")
    code, log = _action(tmp_path, {"paths": "models/", "fail-on": "error"}, monkeypatch)
    assert code == 0, log


def test_the_github_action_fails_a_broken_run_without_uploading(tmp_path, monkeypatch):
    code, log = _action(tmp_path, {"paths": "no-such-folder/"}, monkeypatch)
    assert code == 2 and "path not found: no-such-folder" in log and "would upload" not in log


def test_gitlab_example_commands(models):
    config = yaml.safe_load((ROOT / "docs/examples/gitlab-ci.yml").read_text())
    [command] = _ocrdoctor_commands(config)
    result, _ = _run_line(command)
    target = config["ocrdoctor"]["artifacts"]["reports"]["junit"]
    assert f"--output {target}" in command and result.exit_code == 1
    assert result.stdout.startswith("models/det.pt: OD104 [warning]")
    suites = ET.fromstring(Path(target).read_text())
    assert suites.tag == "testsuites" and suites.get("failures") == "1"
