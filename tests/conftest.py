"""Shared helpers: real checkpoints in tmp_path, and running the CLI in-process or as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Built-in behaviour is tested without whatever plugins this environment has installed
# (CI installs the example plugin); tests/test_plugins.py turns discovery back on.
os.environ["OCRDOCTOR_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import pytest
from click.testing import CliRunner

from ocrdoctor.cli import cli

# Modules that need torch (and docTR) skip themselves with pytest.importorskip, so the same
# suite runs in a deployment without the doctr extra (.ci/run does): the torch-free tests run.


@pytest.fixture
def save(tmp_path):
    """save(obj, name) -> path of a real torch.save file in tmp_path."""
    torch = pytest.importorskip("torch")

    def _save(obj, name="model.pt", **kwargs) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(obj, path, **kwargs)
        return path

    return _save


@pytest.fixture(scope="session")
def db_state_dict():
    """A docTR db_mobilenet_v3_large state_dict that looks trained (every value moved off its init)."""
    pytest.importorskip("doctr")
    from ocrdoctor.checks import examples as ex

    return ex.doctr_state_dict("db_mobilenet_v3_large")


def run(*args: str):
    """The CLI through click's runner; returns the Result (exit_code, stdout, stderr).

    An "internal error" is a bug whatever the test expects, so no test can pass through one.
    """
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "internal error" not in result.stderr, result.stderr
    return result


def run_process(*args: str, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI as a real process, the way CI calls it."""
    return subprocess.run(
        [sys.executable, "-m", "ocrdoctor", *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


def codes(report_or_target) -> list[str]:
    return sorted({f.rule for f in report_or_target.findings})


def require_arch(arch: str) -> None:
    """Skip a test of `arch` where the installed docTR predates it (viptr: 0.12, FAST: 0.8.1)."""
    models = pytest.importorskip("doctr.models")
    if not hasattr(models, arch):
        pytest.skip(f"{arch} is not in the installed docTR")
