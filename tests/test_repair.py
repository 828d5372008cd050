"""`ocrdoctor fix` writes a clean checkpoint, proves it, never touches its input, and leaves nothing
behind when it fails."""

from __future__ import annotations

import hashlib
import os

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor import repair
from ocrdoctor.checks import examples as ex
from tests.conftest import codes, run


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def training_ckpt(save, db_state_dict):
    ckpt = {"epoch": 3, "model": {f"module.{k}": v for k, v in db_state_dict.items()},
            "optimizer": ex.optimizer_state(db_state_dict)}
    with ex.storages_tagged("cuda:0"):
        return save(ckpt, "train.pt")


def test_fix_cleans_verifies_and_keeps_the_input(training_ckpt, tmp_path, db_state_dict):
    before = _sha(training_ckpt)
    out = tmp_path / "clean.pt"
    result = run("fix", training_ckpt, "-o", out)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"wrote {out} (16.2 MiB, was ")
    assert lines[1].startswith("removed: epoch, optimizer (")
    assert lines[2] == ("changed: unwrapped the weights from [\"model\"]; stripped the 'module.' prefix; "
                        "mapped storages to the CPU (saved from cuda:0)")
    assert lines[3] == ("verified: reloads weights-only; 384 tensors bit-identical to the source's; "
                        "loads strictly into db_mobilenet_v3_large")
    assert _sha(training_ckpt) == before
    assert codes(run_check(out)) == []
    written = torch.load(out, weights_only=True)
    assert all(torch.equal(written[k], v) for k, v in db_state_dict.items())


def run_check(path):
    from ocrdoctor.api import check_path

    return check_path(path)


def test_half_and_safetensors(training_ckpt, tmp_path, db_state_dict):
    out = tmp_path / "half.safetensors"
    result = run("fix", training_ckpt, "-o", out, "--half", "--safetensors")
    assert result.exit_code == 0, result.stderr
    assert "bit-identical to the source's after the float16 cast" in result.stdout
    from safetensors.torch import load_file

    written = load_file(str(out))
    assert written["prob_head.6.weight"].dtype == torch.float16
    assert torch.equal(written["prob_head.6.weight"], db_state_dict["prob_head.6.weight"].half())
    assert codes(run_check(out)) == []


def test_fast_is_reparameterized(save, tmp_path):
    src = save(ex.doctr_state_dict("fast_tiny"), "fast.pt")
    out = tmp_path / "fused.pt"
    result = run("fix", src, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "changed: reparameterized fast_tiny" in result.stdout
    assert "loads strictly into fast_tiny (reparameterized)" in result.stdout
    assert codes(run_check(out)) == []


def test_custom_vocab_recognizer(save, tmp_path):
    src = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789")}, "reco.pt")
    result = run("fix", src, "-o", tmp_path / "reco-clean.pt")
    assert result.exit_code == 0, result.stderr
    assert "loads strictly into crnn_mobilenet_v3_small with a vocab of 10" in result.stdout


def test_unsafe_input_is_refused_and_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.pt"
    torch.save({"model": ex.tiny_state_dict(), "x": ex.SystemCall(f"touch {marker}")}, src)
    result = run("fix", src, "-o", tmp_path / "out.pt")
    assert result.exit_code == 2 and "(OD101); nothing in it was run" in result.stderr
    assert not marker.exists() and not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize(("setup", "message"), [
    (lambda d: (d / "out.pt").write_bytes(b"keep me"), "exists (pass --force to overwrite it)"),
    (lambda d: None, "refusing to overwrite the input"),
])
def test_output_rules(training_ckpt, tmp_path, setup, message):
    setup(tmp_path)
    target = training_ckpt if "input" in message else tmp_path / "out.pt"
    result = run("fix", training_ckpt, "-o", target)
    assert result.exit_code == 2 and message in result.stderr
    if target.name == "out.pt":
        assert target.read_bytes() == b"keep me"
        assert run("fix", training_ckpt, "-o", target, "--force").exit_code == 0


def test_missing_folder_and_unreadable_input(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert "cannot read" in run("fix", bad, "-o", tmp_path / "o.pt").stderr
    src = tmp_path / "ok.pt"
    torch.save(ex.tiny_state_dict(), src)
    result = run("fix", src, "-o", tmp_path / "nowhere" / "o.pt")
    assert result.exit_code == 2 and "output folder not found" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any folder")
def test_unwritable_folder(tmp_path, training_ckpt):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    result = run("fix", training_ckpt, "-o", locked / "o.pt")
    assert result.exit_code == 2 and "not writable" in result.stderr


def test_disk_full_mid_write_leaves_nothing(training_ckpt, tmp_path, monkeypatch):
    def full(state, path, safetensors):
        path.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repair, "_save", full)
    result = run("fix", training_ckpt, "-o", tmp_path / "out.pt")
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.pt"]


def test_corrupted_output_fails_verification_and_is_removed(training_ckpt, tmp_path, monkeypatch):
    real_save = repair._save

    def corrupting(state, path, safetensors):
        tampered = dict(state)
        tampered["prob_head.6.bias"] = tampered["prob_head.6.bias"] + 1
        real_save(tampered, path, safetensors)

    monkeypatch.setattr(repair, "_save", corrupting)
    result = run("fix", training_ckpt, "-o", tmp_path / "out.pt")
    assert result.exit_code == 2
    assert "verification failed: 1 tensors differ from the source (e.g. prob_head.6.bias)" in result.stderr
    assert not (tmp_path / "out.pt").exists()
