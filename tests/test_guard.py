"""Nothing ocrdoctor writes replaces what the user has: every command, every output it writes, held to one guard
(core/guard.py) before any work. Each refusal is one line, exit 2, and leaves every file as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import run

DATA = Path(__file__).parent / "data" / "checkpoints"


@pytest.fixture
def files(tmp_path):
    """Two checkpoints (copies of committed ones), a report that exists, a folder, and links to the first."""
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes((DATA / "state_dict.pt").read_bytes())
    b.write_bytes((DATA / "training.pt").read_bytes())
    (tmp_path / "old-report.txt").write_text("yesterday's report\n")
    (tmp_path / "folder").mkdir()
    os.link(a, tmp_path / "hard-link-to-a")
    (tmp_path / "soft-link-to-a").symlink_to(a)
    (tmp_path / "a.config.json").write_text('{"arch": "x"}')
    return tmp_path


def snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in sorted(folder.iterdir())}


def refused(files: Path, *args, message: str) -> None:
    before = snapshot(files)
    result = run(*args)
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert snapshot(files) == before  # nothing lost or changed on disk


@pytest.mark.parametrize(("output", "extra", "message"), [
    ("a.pt", [], "refusing to overwrite the input"),
    ("b.pt", ["--format", "sarif"], "refusing to overwrite the input"),
    ("hard-link-to-a", [], "are the same file"),
    ("soft-link-to-a", ["--force"], "are the same file"),
    ("a.config.json", ["--force"], "refusing to overwrite the input"),  # the sidecar the check reads
    ("old-report.txt", [], "exists (pass --force to overwrite it)"),
    ("folder", ["--force"], "is a folder"),
])
def test_check_output_never_replaces_an_input_a_folder_or_without_force_a_file(files, output, extra, message):
    refused(files, "check", files / "a.pt", files / "b.pt", "-o", files / output, *extra, message=message)


def test_a_report_never_replaces_a_checkpoint_even_with_force(files):
    other = files / "other-model.bin"
    other.write_bytes((DATA / "legacy.pt").read_bytes())
    refused(files, "check", files / "a.pt", "-o", other, "--force", message="it holds a checkpoint")


def test_check_output_with_force_replaces_a_report(files):
    result = run("check", files / "a.pt", "-o", files / "old-report.txt", "--force", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert (files / "old-report.txt").read_text().startswith("{")


def test_the_settings_file_is_an_input_too(files):
    config = files / "gate.toml"
    config.write_text("[tool.ocrdoctor]\nfail-on = 'error'\n")
    refused(files, "check", files / "a.pt", "--config", config, "-o", config, "--force",
            message="refusing to overwrite the input")


def test_a_deployment_report_is_guarded_too(files):
    pytest.importorskip("doctr")
    refused(files, "check", "--reco", files / "a.pt", "--reco-arch", "crnn_mobilenet_v3_small", "-o", files / "a.pt",
            message="refusing to overwrite the input")


@pytest.mark.parametrize(("output", "extra", "message"), [
    ("a.pt", ["--force"], "refusing to overwrite the input"),
    ("hard-link-to-a", ["--force"], "are the same file"),
    ("folder", ["--force"], "is a folder"),
    ("old-report.txt", [], "exists (pass --force to overwrite it)"),
])
def test_fix_output_is_guarded(files, output, extra, message):
    pytest.importorskip("doctr")
    refused(files, "fix", files / "a.pt", "-o", files / output, *extra, message=message)


@pytest.mark.parametrize(("output", "extra", "message"), [
    ("a.pt", ["--force"], "refusing to overwrite the input"),
    ("folder", ["--force"], "is a folder"),
    ("old-report.txt", [], "exists (pass --force to overwrite it)"),
])
def test_export_output_is_guarded(files, output, extra, message):
    pytest.importorskip("doctr")
    pytest.importorskip("onnxruntime")
    refused(files, "export", files / "a.pt", "--arch", "crnn_mobilenet_v3_small", "-o", files / output, *extra,
            message=message)


def test_compare_outputs_are_guarded(files):
    """The golden written and the report written: never a model, a page or the golden read."""
    pytest.importorskip("doctr")
    from ocrdoctor.specimens.pair import trained_pair

    det, det_arch, reco, reco_arch = trained_pair()
    page = files / "page.png"
    page.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    base = ["compare", page, "--det", det, "--det-arch", det_arch, "--reco", reco, "--reco-arch", reco_arch]
    refused(files, *base, "--save-golden", page, "--force", message="refusing to overwrite the input")
    refused(files, *base, "--save-golden", files / "a.pt", "--force", message="it holds a checkpoint")
    refused(files, *base, "--save-golden", files / "old-report.txt", message="exists (pass --force")
    refused(files, *base, "--candidate-dtype", "float64", "-o", files / "folder", message="is a folder")
    refused(files, *base, "--candidate-dtype", "float64", "-o", files / "b.pt", "--force", message="holds a checkpoint")


def test_demo_never_replaces_a_file_already_in_its_folder(files):
    pytest.importorskip("doctr")
    (files / "demo").mkdir()
    (files / "demo" / "det_weights.pt").write_text("the team's own weights")
    refused(files / "demo", "demo", "--out", files / "demo", message="exists (pass --force to overwrite it)")
