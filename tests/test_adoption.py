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
    runs = [s["run"] for s in steps if "run" in s] + [c for job in workflow.values() if isinstance(job, dict) for c in job.get("script", [])]
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
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "ocrdoctor" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert all(pattern.search(n) for n in ["a.pt", "b/c.pth", "d.bin", "e.ckpt", "f.safetensors"])
    assert not pattern.search("train.py") and not pattern.search("model.onnx.txt")
    # pre-commit runs `entry` with the staged file names appended
    result, _ = _run_line(f"{hook['entry']} {models / 'det.pt'}")
    assert result.exit_code == 0 and "OD104" in result.stdout
    (models / "bad.pt").write_bytes(b"truncated")
    result, _ = _run_line(f"{hook['entry']} {models / 'bad.pt'}")
    assert result.exit_code == 1


def test_github_workflow_commands(models):
    workflow = yaml.safe_load((ROOT / "docs/examples/github-workflow.yml").read_text())
    commands = _ocrdoctor_commands(workflow["jobs"])
    assert len(commands) == 2
    gate, _ = _run_line(commands[0])
    assert gate.exit_code == 1  # the OD104 warning fails a --fail-on warning gate
    assert gate.stdout.startswith("::warning file=models/det.pt,title=OD104 wrapped-state-dict::")
    sarif, target = _run_line(commands[1])
    assert sarif.exit_code == 0 and target == "ocrdoctor.sarif"
    assert '"version": "2.1.0"' in sarif.stdout
    upload = workflow["jobs"]["check-models"]["steps"][-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif") and upload["with"]["sarif_file"] == target


def test_gitlab_example_commands(models):
    config = yaml.safe_load((ROOT / "docs/examples/gitlab-ci.yml").read_text())
    [command] = _ocrdoctor_commands(config)
    result, target = _run_line(command)
    assert target == config["ocrdoctor"]["artifacts"]["reports"]["junit"]
    assert result.exit_code == 1
    suites = ET.fromstring(result.stdout)
    assert suites.tag == "testsuites" and suites.get("failures") == "1"
