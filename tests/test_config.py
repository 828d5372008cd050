"""[tool.ocrdoctor] and --config, end to end through the CLI; flags override the file."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files

from ocrdoctor.checks import examples as ex
from tests.conftest import run


@pytest.fixture
def project(tmp_path, monkeypatch, save):
    """A project folder with a wrapped checkpoint (OD104 warning, OD112 info) and a legacy one (OD111 too)."""
    save({"model": ex.tiny_state_dict()}, "models/wrapped.pt")
    save(ex.tiny_state_dict(), "models/old/legacy.pt", _use_new_zipfile_serialization=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _write(project, text, name="pyproject.toml"):
    (project / name).write_text(text)


def _rules(result) -> list[tuple[str, str, str]]:
    data = json.loads(result.stdout)
    return sorted((f["target"].split("/")[-1], f["rule"], f["severity"]) for f in data["findings"])


def test_no_config_defaults(project):
    result = run("check", "models", "--format", "json")
    assert result.exit_code == 0
    assert _rules(result) == [("legacy.pt", "OD111", "info"), ("legacy.pt", "OD112", "info"),
                              ("wrapped.pt", "OD104", "warning"), ("wrapped.pt", "OD112", "info")]


def test_pyproject_settings_apply(project):
    _write(project, """
[project]
name = "team-models"

[tool.ocrdoctor]
ignore = ["OD112"]
fail-on = "warning"
severity = { OD111 = "error" }
per-path-ignores = { "models/old/*" = ["OD111"] }
""")
    result = run("check", "models", "--format", "json")
    assert _rules(result) == [("wrapped.pt", "OD104", "warning")]
    assert result.exit_code == 1  # fail-on = warning from the file
    assert run("check", "models", "--fail-on", "error").exit_code == 0  # the flag wins


def test_severity_override_changes_exit_code(project):
    _write(project, '[tool.ocrdoctor]\nseverity = { OD104 = "error" }\n')
    result = run("check", "models/wrapped.pt", "--format", "json")
    assert result.exit_code == 1
    assert ("wrapped.pt", "OD104", "error") in _rules(result)


def test_cli_select_replaces_file_select(project):
    _write(project, '[tool.ocrdoctor]\nselect = ["OD104"]\n')
    assert [r for _, r, _ in _rules(run("check", "models", "--format", "json"))] == ["OD104"]
    assert {r for _, r, _ in _rules(run("check", "models", "--format", "json", "--select", "OD111"))} == {"OD111"}


def test_config_file_option_and_found_from_a_subfolder(project, monkeypatch):
    _write(project, 'select = ["OD111"]\n', name="gate.toml")
    assert [r for _, r, _ in _rules(run("check", "models", "--format", "json", "--config", "gate.toml"))] == ["OD111"]
    _write(project, '[tool.ocrdoctor]\nselect = ["OD104"]\n')
    monkeypatch.chdir(project / "models")
    assert [r for _, r, _ in _rules(run("check", ".", "--format", "json"))] == ["OD104"]


@pytest.mark.parametrize(("text", "message"), [
    ("[tool.ocrdoctor]\nselct = ['OD1']\n", "unknown key 'selct' in [tool.ocrdoctor]"),
    ("[tool.ocrdoctor]\nselect = [\n", "invalid TOML"),
    ("[tool.ocrdoctor]\nfail-on = 'fatal'\n", "'fail-on' must be one of error, warning, info"),
    ("[tool.ocrdoctor]\nselect = 3\n", "'select' must be a list of strings"),
    ("[tool.ocrdoctor]\nignore = ['OD777']\n", "unknown rule code or prefix 'OD777'"),
    ("[tool.ocrdoctor]\nseverity = { OD999 = 'error' }\n", "unknown rule code or prefix 'OD999'"),
    ("[tool.ocrdoctor]\njobs = -1\n", "'jobs' must be a whole number"),
])
def test_bad_config_is_one_line_exit_2(project, text, message):
    _write(project, text)
    result = run("check", "models")
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_config_file(project):
    result = run("check", "models", "--config", "nope.toml")
    assert result.exit_code == 2 and "config file not found: nope.toml" in result.stderr
