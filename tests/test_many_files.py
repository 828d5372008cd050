"""Folders: every regular file sniffed by its first bytes, skips recorded with their reasons, globs,
parallel checks in a fixed order, the progress bar rule. Runs without torch."""

from __future__ import annotations

import json
import os

import pytest

from ocrdoctor.cli.check import wants_progress
from ocrdoctor.core.engine import UsageError
from ocrdoctor.run.named import collect
from tests import torchfile as tf
from tests.conftest import run, run_process

WEIGHTS = tf.trained({"conv.weight": (4, 3, 3, 3), "conv.bias": (4,)})


@pytest.fixture
def tree(tmp_path):
    for name in ["a/det.pt", "a/reco.pth", "b/ckpt/last.ckpt", "b/tmp/scratch.pt", "c/weights.bin"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        tf.save_zip(tmp_path / name, {"model": WEIGHTS})
    (tmp_path / "a" / "notes.md").write_text("x")
    return tmp_path


def _names(found):
    files, _skipped = found
    return [p.name for p in files]


def test_default_collects_checkpoints_sorted(tree):
    assert _names(collect([tree])) == ["det.pt", "reco.pth", "last.ckpt", "scratch.pt", "weights.bin"]


def test_any_name_is_sniffed_and_plain_files_are_skipped_with_reasons(tmp_path):
    tf.save_zip(tmp_path / "best.pth.tar", {"model": WEIGHTS})
    tf.save_legacy(tmp_path / "model.th", WEIGHTS)
    (tmp_path / "checkpoint.pkl").write_bytes(tf.pickled(tf.value({"epoch": 3})))
    tf.save_safetensors(tmp_path / "weights.pt.1", WEIGHTS)
    (tmp_path / "config.json").write_text('{"arch": "crnn_vgg16_bn", "vocab": "abc"}')
    (tmp_path / "vocab.txt").write_text("abcdefghijklmnopqrstuvwxyz\n")
    (tmp_path / "README").write_text("# Our OCR models\nTrained on 2024 invoices.\n")
    (tmp_path / "lfs").mkdir()
    (tmp_path / "lfs" / "det.model").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    os.symlink(tmp_path / "nowhere.pt", tmp_path / "dangling.pt")
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    os.symlink(tmp_path / "lfs", tmp_path / "linked-folder")
    files, skipped = collect([tmp_path])
    assert [p.name for p in files] == ["best.pth.tar", "checkpoint.pkl", "det.model", "model.th", "weights.pt.1"]
    reasons = {os.path.basename(s.path): s.reason for s in skipped}
    assert reasons == {
        "README": "not a checkpoint (its first bytes say so)",
        "config.json": "not a checkpoint (its first bytes say so)",
        "vocab.txt": "not a checkpoint (its first bytes say so)",
        "dangling.pt": f"dangling link to {tmp_path / 'nowhere.pt'}",
        "loop-a": "a link that loops",
        "loop-b": "a link that loops",
        "linked-folder": "a link to a folder (not followed)",
    }


def test_skips_are_in_the_json_and_listed_by_verbose(tmp_path):
    tf.save_zip(tmp_path / "m.pt", {"model": WEIGHTS})
    os.symlink(tmp_path / "gone.pt", tmp_path / "old.pt")
    data = json.loads(run("check", tmp_path, "--format", "json").stdout)
    assert data["skipped"] == [{"path": str(tmp_path / "old.pt"), "reason": f"dangling link to {tmp_path / 'gone.pt'}"}]
    verbose = run("check", tmp_path, "-v").stdout
    assert f"not checked: {tmp_path / 'old.pt'}: dangling link" in verbose
    assert "not checked" not in run("check", tmp_path).stdout


def test_include_and_exclude_globs(tree):
    assert _names(collect([tree], include=["*.pt"])) == ["det.pt", "scratch.pt"]
    assert _names(collect([tree], exclude=["b/tmp/*", "*.bin"])) == ["det.pt", "reco.pth", "last.ckpt"]


def test_include_glob_matching_nothing_is_an_error(tree):
    with pytest.raises(UsageError, match="include glob '\\*.onnx' matched no file"):
        collect([tree], include=["*.pt", "*.onnx"])
    result = run("check", tree, "--include", "*.h5")
    assert result.exit_code == 2 and "no *.h5 in" in result.stderr


def test_a_folder_with_nothing_to_check_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    proc = run_process("check", tmp_path)
    assert proc.returncode == 2 and "no checkpoints or ONNX exports in" in proc.stderr
    assert "1 file skipped" in proc.stderr


def test_explicit_files_are_checked_even_when_excluded(tree):
    assert _names(collect([tree / "b/tmp/scratch.pt"], exclude=["*scratch*"])) == ["scratch.pt"]


def test_parallel_run_matches_serial_run_in_order(tree):
    serial = json.loads(run("check", tree, "--format", "json").stdout)
    parallel = json.loads(run("check", tree, "--format", "json", "--jobs", "4").stdout)
    for data in (serial, parallel):
        for t in data["targets"]:
            t.pop("seconds")
    assert parallel == serial
    assert [t["target"].rsplit("/", 1)[-1] for t in serial["targets"]] == ["det.pt", "reco.pth", "last.ckpt",
                                                                           "scratch.pt", "weights.bin"]


def test_progress_bar_only_for_long_runs():
    assert not wants_progress(3, 10 << 20)
    assert wants_progress(8, 0) and wants_progress(1, 300 << 20)
