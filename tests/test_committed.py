"""Checkpoints written by torch itself (committed in tests/data/checkpoints/) read without torch:
each gets exactly its findings, through the CLI as a process. With torch, a fresh regeneration
by tests/data/make_checkpoints.py reads to the same facts (the script still makes these files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocrdoctor.api import check_path
from ocrdoctor.inspect.checkpoint import inspect_checkpoint
from tests.conftest import codes, run_process

FILES = Path(__file__).resolve().parent / "data" / "checkpoints"
EXPECTED = {
    "state_dict.pt": ["OD112"],
    "state_dict.safetensors": ["OD112"],
    "legacy.pt": ["OD111", "OD112"],
    "training.pt": ["OD103", "OD104", "OD105", "OD106", "OD112"],
    "harmless_extras.pt": ["OD104", "OD112", "OD120"],  # its args and metric: small metadata, not training state
    "whole_module.pt": ["OD102", "OD112"],
    "nan.pt": ["OD109", "OD112"],
    "half_done_cast.pt": ["OD107", "OD112"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_committed_file_gets_exactly_its_findings(name):
    assert codes(check_path(FILES / name)) == EXPECTED[name]


def test_the_folder_as_a_process(tmp_path):
    proc = run_process("check", FILES, "--format", "json")
    assert proc.returncode == 1, proc.stderr  # nan.pt is an error
    data = json.loads(proc.stdout)
    found = {}
    for f in data["findings"]:
        found.setdefault(Path(f["target"]).name, set()).add(f["rule"])
    assert {k: sorted(v) for k, v in found.items()} == EXPECTED
    training = next(f for f in data["findings"] if f["rule"] == "OD106")
    assert "cuda:0" in training["message"]


def _facts(path):
    f = inspect_checkpoint(path)
    numpy_1 = tuple(name.replace("numpy.core.",
                                 "numpy._core.") for name in f.outside_weights_only)  # numpy 2 renamed it
    return (f.format, f.weights_key, f.module_globals, numpy_1,
            [(t.name, t.shape, t.dtype, t.device, t.nbytes, t.nonfinite, t.constant) for t in f.weights or ()])


def test_the_script_still_makes_these_files(tmp_path):
    pytest.importorskip("torch")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_checkpoints", FILES.parent / "make_checkpoints.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    made = script.build(tmp_path)
    assert sorted(p.name for p in made) == sorted(EXPECTED)
    for path in made:
        assert _facts(path) == _facts(FILES / path.name), path.name
