"""Folders with include/exclude globs, parallel checks with deterministic order, the progress bar rule."""

from __future__ import annotations

import json

import pytest

from ocrdoctor.api import UsageError, collect
from ocrdoctor.checks import examples as ex
from ocrdoctor.cli import wants_progress
from tests.conftest import run


@pytest.fixture
def tree(tmp_path, save):
    for name in ["a/det.pt", "a/reco.pth", "b/ckpt/last.ckpt", "b/tmp/scratch.pt", "c/weights.bin"]:
        save({"model": ex.tiny_state_dict()}, name)
    (tmp_path / "a" / "notes.md").write_text("x")
    return tmp_path


def test_default_collects_checkpoint_suffixes_sorted(tree):
    assert [p.name for p in collect([tree])] == ["det.pt", "reco.pth", "last.ckpt", "scratch.pt", "weights.bin"]


def test_include_and_exclude_globs(tree):
    assert [p.name for p in collect([tree], include=["*.pt"])] == ["det.pt", "scratch.pt"]
    assert [p.name for p in collect([tree], exclude=["b/tmp/*", "*.bin"])] == ["det.pt", "reco.pth", "last.ckpt"]


def test_include_glob_matching_nothing_is_an_error(tree):
    with pytest.raises(UsageError, match="include glob '\\*.onnx' matched no file"):
        collect([tree], include=["*.pt", "*.onnx"])
    result = run("check", tree, "--include", "*.h5")
    assert result.exit_code == 2 and "no checkpoint files (*.h5)" in result.stderr


def test_explicit_files_are_checked_even_when_excluded(tree):
    assert [p.name for p in collect([tree / "b/tmp/scratch.pt"], exclude=["*scratch*"])] == ["scratch.pt"]


def test_parallel_run_matches_serial_run_in_order(tree):
    serial = json.loads(run("check", tree, "--format", "json").stdout)
    parallel = json.loads(run("check", tree, "--format", "json", "--jobs", "4").stdout)
    for data in (serial, parallel):
        for t in data["targets"]:
            t.pop("seconds")
    assert parallel == serial
    assert [t["target"].rsplit("/", 1)[-1] for t in serial["targets"]] == ["det.pt", "reco.pth", "last.ckpt", "scratch.pt", "weights.bin"]


def test_progress_bar_only_for_long_runs():
    assert not wants_progress(3, 10 << 20)
    assert wants_progress(8, 0) and wants_progress(1, 300 << 20)
