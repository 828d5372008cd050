"""A report read at a glance: each distinct fix once, command first, programs that run as
pasted; one line per finding with --format concise (or `format` in the config); a line per folder."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.checks import examples as ex  # noqa: E402
from tests.conftest import run, run_process  # noqa: E402


def _training_checkpoint() -> dict:
    """What a DataParallel training loop saves: prefixed weights under "model", an optimizer, an epoch."""
    sd = {f"module.{k}": v for k, v in ex.doctr_state_dict("crnn_mobilenet_v3_small").items()}
    layer = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(layer.parameters())
    layer(torch.ones(1, 2)).sum().backward()
    opt.step()
    return {"model": sd, "optimizer": opt.state_dict(), "epoch": 3}


def _program(text: str) -> str:
    """The Python program under 'or in Python:', dedented, as a user would copy it from the terminal."""
    lines = text.splitlines()
    start = lines.index("      or in Python:") + 1
    body = []
    for line in lines[start:]:
        if line and not line.startswith("        "):
            break
        body.append(line[8:])
    return "\n".join(body).strip() + "\n"


def test_one_fix_for_three_findings_command_first_and_the_program_runs_as_pasted(save, tmp_path, monkeypatch):
    path = save(_training_checkpoint(), "runs/train.pt")
    result = run("check", path)
    text = result.stdout
    assert result.exit_code == 0, result.stderr
    assert "  fix for OD103, OD104, OD105 (safe):" in text
    assert text.count("run: ocrdoctor fix") == 1 and text.count("or in Python:") == 1
    assert text.index("run: ocrdoctor fix") < text.index("or in Python:")
    assert text.index("OD105 warning") < text.index("fix for OD103")  # findings first, then their fixes
    program = _program(text)
    assert program.splitlines()[0] == f"path = {str(path)!r}"
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    exec(compile(program, "<pasted>", "exec"), {})  # noqa: S102 - the program the report printed
    after = run("check", work / "weights.pt", "--select", "OD103,OD104,OD105")
    assert after.exit_code == 0 and "No problems found in 1 file." in after.stdout


def test_concise_is_one_line_per_finding_and_the_summary(save):
    path = save(_training_checkpoint(), "train.pt")
    result = run("check", path, "--format", "concise", "--fail-on", "warning")
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert lines[-1].startswith("Found ") and lines[-1].endswith(" in 1 file.")
    findings = lines[:-1]
    assert [re.match(rf"{re.escape(str(path))}: (OD\d{{3}}) \[(error|warning|info)\] \S", line) is not None
            for line in findings] == [True] * len(findings)
    assert {line.split()[1] for line in findings} >= {"OD103", "OD104", "OD105"}


def test_the_config_chooses_the_format_and_the_flag_overrides_it(save, tmp_path):
    path = save(_training_checkpoint(), "train.pt")
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.ocrdoctor]\nformat = "concise"\n')
    concise = run("check", path, "--config", config)
    assert concise.stdout.splitlines()[0].startswith(f"{path}: OD10")
    text = run("check", path, "--config", config, "--format", "text")
    assert text.stdout.splitlines()[0].startswith(f"{path}  (zip")
    config.write_text('[tool.ocrdoctor]\nformat = "fancy"\n')
    bad = run("check", path, "--config", config)
    assert bad.exit_code == 2 and "'format' must be one of text, concise" in bad.stderr


def test_a_summary_line_per_folder(save):
    save(_training_checkpoint(), "team-a/train.pt")
    save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "team-a/clean.pt")
    clean = save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), "team-b/clean.pt")
    proc = run_process("check", clean.parent.parent)
    lines = proc.stdout.splitlines()
    folder_a, folder_b = str(clean.parent.parent / "team-a"), str(clean.parent)
    assert f"{folder_a}/: 3 problems (3 warnings) in 2 files" in lines, proc.stdout
    assert f"{folder_b}/: no problems in 1 file" in lines
    assert lines[-1] == "Found 3 problems (0 errors, 3 warnings, 0 info) in 3 files."


def test_fix_and_export_show_their_phases_on_a_terminal_only(save, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    path = save(_training_checkpoint(), "train.pt")
    quiet = run("fix", path, "-o", tmp_path / "quiet.pt")
    assert quiet.exit_code == 0 and quiet.stderr == ""  # a pipe or a CI log: nothing but the result
    monkeypatch.setattr("ocrdoctor.cli.common.is_terminal", lambda stream=None: True)
    fixed = run("fix", path, "-o", tmp_path / "clean.pt")
    assert fixed.exit_code == 0, fixed.stderr
    assert "fix: reading train.pt ..." in fixed.stderr and "fix: verifying clean.pt" in fixed.stderr
    assert fixed.stderr.endswith("\r") and fixed.stdout.startswith("wrote ")  # the line is cleared at the end
    exported = run("export", tmp_path / "clean.pt", "--arch", "crnn_mobilenet_v3_small", "-o", tmp_path / "r.onnx",
                   "--repeat", "2")
    assert exported.exit_code == 0, exported.stderr
    for phase in ("export: reading clean.pt and building crnn_mobilenet_v3_small ...",
                  "export: exporting through torch.onnx ...", "export: checking the graph and running it",
                  "export: reading the sample words with PyTorch and with the export ..."):
        assert phase in exported.stderr
    assert "over the runs" in exported.stdout  # the latency ratio comes with its spread


def test_an_export_speedup_whose_runs_overlap_is_no_measurable_difference():
    from ocrdoctor.core.findings import Report
    from ocrdoctor.core.timing import Spread
    from ocrdoctor.treat.export import ExportResult

    def result(onnx: Spread, eager: Spread) -> ExportResult:
        return ExportResult("r.onnx", "crnn_mobilenet_v3_small", "recognition", False, True, None, onnx.median,
                            eager.median, 5, Report(()), None, onnx, eager)

    noisy = result(Spread(0.001, 0.002, 0.1), Spread(0.05, 0.0955, 0.2))  # 47.75x by medians
    assert noisy._speed().startswith("no measurable difference (0.50x-200.00x")
    clear = result(Spread(0.010, 0.011, 0.012), Spread(0.040, 0.044, 0.048))
    assert clear._speed() == "4.00x the speed of eager (3.33x-4.80x over the runs)"
