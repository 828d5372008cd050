"""Malicious checkpoints: each is OD101 with exit 1, none runs (a marker file proves it), `fix`
refuses each, and each really runs under the loader it targets (so the corpus is real)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ocrdoctor.api import check_path
from tests.conftest import run, run_process
from tests.payloads import PAYLOADS
from tests.payloads_gadgets import GADGETS

CORPUS = PAYLOADS + GADGETS


def _write(payload, folder):
    marker = folder / f"ran-{payload.name}"
    path = folder / f"{payload.name}{payload.suffix}"
    path.write_bytes(payload.build(marker))
    return path, marker


def test_the_corpus_is_large_and_varied():
    assert len(PAYLOADS) >= 40 and len(GADGETS) >= 40
    assert len({p.name for p in CORPUS}) == len(CORPUS)
    assert {p.suffix for p in CORPUS} >= {".pt", ".pkl", ".bin", ".safetensors", ".tar"}


@pytest.mark.parametrize("payload", CORPUS, ids=repr)
def test_payload_is_od101_and_never_runs(payload, tmp_path):
    path, marker = _write(payload, tmp_path)
    before = path.read_bytes()
    report = check_path(path)
    od101 = [f for f in report.findings if f.rule == "OD101"]
    assert od101, report.findings
    assert any(payload.expects in (f.location or "") + f.message for f in od101), od101
    assert report.exit_code() == 1
    assert not marker.exists(), "the payload ran"
    assert path.read_bytes() == before


def test_a_folder_of_payloads_fails_the_gate_as_a_process(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    markers = [_write(p, folder)[1] for p in CORPUS]
    proc = run_process("check", folder, "--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    flagged = {t["target"] for t in data["targets"] if any(f["rule"] == "OD101" and f["target"] == t["target"]
                                                           for f in data["findings"])}
    assert len(flagged) == len(CORPUS), sorted({t["target"] for t in data["targets"]} - flagged)
    assert not any(m.exists() for m in markers)


@pytest.mark.parametrize("payload", CORPUS, ids=repr)
def test_fix_refuses_every_payload(payload, tmp_path):
    pytest.importorskip("torch")
    path, marker = _write(payload, tmp_path)
    result = run("fix", path, "-o", tmp_path / "clean.pt")
    assert result.exit_code == 2
    assert "OD101" in result.stderr and "nothing in it was run" in result.stderr
    assert not (tmp_path / "clean.pt").exists() and not marker.exists()


_RUNNER = textwrap.dedent("""
    import importlib, pickle, sys
    loader = sys.argv[1]
    for path in sys.argv[2:]:
        try:
            if loader == "torch":
                import torch
                torch.load(path, weights_only=False)
            elif loader == "torch-allowed":  # what the old OD120 program ran: weights_only=True, the names allowed
                import torch
                from ocrdoctor.read.checkpoint import read_checkpoint
                from ocrdoctor.read.allowlist import torch_weights_only
                with read_checkpoint(path) as ckpt:
                    names = sorted(set(ckpt.uses.globals) - torch_weights_only())
                allowed = []
                for name in names:
                    module, attr = name.rsplit(".", 1)
                    allowed.append(getattr(importlib.import_module(module), attr))
                with torch.serialization.safe_globals(allowed):
                    torch.load(path, weights_only=True)
            else:
                with open(path, "rb") as f:
                    pickle.load(f)
        except BaseException:
            pass
""")


def _needs(payload) -> str | None:
    """The module a payload's loader needs (`pickle:lightning`), when it is not installed here."""
    import importlib.util

    loader, _, module = (payload.loader or "").partition(":")
    modules = [module] if module else []
    if loader.startswith("torch"):
        modules.append("torch")
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)


@pytest.mark.slow
@pytest.mark.parametrize("loader", ["pickle", "torch", "torch-allowed"])
def test_payloads_really_run_under_their_loader(loader, tmp_path):
    """The control experiment: loading the files for real (in a child process) runs every payload."""
    if loader.startswith("torch"):
        pytest.importorskip("torch")
    chosen = [p for p in CORPUS if (p.loader or "").partition(":")[0] == loader and not _needs(p)]
    assert chosen
    written = [_write(p, tmp_path) for p in chosen]
    subprocess.run([sys.executable, "-c", _RUNNER, loader, *[str(p) for p, _ in written]], cwd=tmp_path,
                   capture_output=True, timeout=300, env=_importable())
    deadline = time.monotonic() + 5  # os.popen's child may still be starting
    while time.monotonic() < deadline and not all(m.exists() for _, m in written):
        time.sleep(0.1)
    assert [p.name for p, (_, m) in zip(chosen, written, strict=False) if not m.exists()] == []


ROOT = Path(__file__).resolve().parents[1]


def _importable() -> dict:
    """The environment of a loader that can import tests.payload_classes, as a team's server imports its code."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def test_a_function_in_a_module_hook_is_od101_and_torch_calls_it_on_forward(tmp_path):
    """A modelled class (nn.Sequential) whose forward hook is a function: torch.load accepts the file and the
    first forward calls it; ocrdoctor names it as a hook, and nothing ran."""
    torch = pytest.importorskip("torch")
    from tests import payload_classes

    marker = tmp_path / "hooked"
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model.marker = str(marker)
    model.register_forward_hook(payload_classes.touch)
    path = tmp_path / "hooked.pt"
    torch.save(model, path)
    report = check_path(path)
    [od101] = [f for f in report.findings if f.rule == "OD101"]
    assert "tests.payload_classes.touch (stored as a module hook" in od101.message
    assert "torch calls it on every forward" in od101.message and report.exit_code() == 1
    assert not marker.exists()
    load = f"import torch; m = torch.load({str(path)!r}, weights_only=False); m(torch.zeros(1, 2))"
    subprocess.run([sys.executable, "-c", load], env=_importable(), check=True, capture_output=True, timeout=120)
    assert marker.exists()  # the control: torch accepted the layout and called the hook


def test_a_teams_own_module_is_od101_until_trusted_on_the_command_line_or_in_the_config(tmp_path):
    torch = pytest.importorskip("torch")
    from ocrdoctor.checks import examples as ex
    from tests.payload_classes import TeamModel

    path = tmp_path / "team.pt"
    torch.save(ex.make_trained(TeamModel()), path)  # trained-looking: no OD116 beside the verdict
    plain = run("check", path)
    assert plain.exit_code == 1 and "OD101" in plain.stdout and "--trust 'tests.*'" in plain.stdout
    trusted = run("check", path, "--trust", "tests.payload_classes.*")
    assert trusted.exit_code == 0 and "OD102" in trusted.stdout and "OD101" not in trusted.stdout
    assert "your own classes: tests.payload_classes.TeamModel" in trusted.stdout
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.ocrdoctor]\ntrusted-globals = ["tests.payload_classes.TeamModel"]\n')
    assert "OD102" in run("check", path, "--config", config).stdout
    assert {f.rule for f in check_path(path, config=config).findings} >= {"OD102"}
    fixed = run("fix", path, "-o", tmp_path / "weights.pt")  # read from the records, trusted or not
    assert fixed.exit_code == 0, fixed.stderr
    assert "do not load the source file" in fixed.stdout
    assert set(torch.load(tmp_path / "weights.pt", weights_only=True)) == set(TeamModel().state_dict())
