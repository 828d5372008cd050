"""`ocrdoctor fix` writes a clean checkpoint, proves it, never touches its input, and leaves nothing
behind when it fails."""

from __future__ import annotations

import hashlib
import os

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.anatomy.versions import fast_fusion_sound
from ocrdoctor.checks import examples as ex
from ocrdoctor.treat import fix as repair
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


@pytest.mark.slow
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
    if not fast_fusion_sound():  # docTR 0.8: fusing would change the outputs; the file keeps its training form
        assert "left fast_tiny in its training form: docTR 0.8's FAST reparameterize" in result.stdout
        return
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
    def full(state, path, safetensors, metadata=None):
        path.write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repair, "_save", full)
    result = run("fix", training_ckpt, "-o", tmp_path / "out.pt")
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.pt"]


def test_corrupted_output_fails_verification_and_is_removed(training_ckpt, tmp_path, monkeypatch):
    real_save = repair._save

    def corrupting(state, path, safetensors, metadata=None):
        tampered = dict(state)
        tampered["prob_head.6.bias"] = tampered["prob_head.6.bias"] + 1
        real_save(tampered, path, safetensors, metadata)

    monkeypatch.setattr(repair, "_save", corrupting)
    result = run("fix", training_ckpt, "-o", tmp_path / "out.pt")
    assert result.exit_code == 2
    assert "verification failed: 1 tensor not as in the source (e.g. prob_head.6.bias)" in result.stderr
    assert not (tmp_path / "out.pt").exists()


# --- what teams save: Lightning, EMA, bundles, a vocab, mixed dtypes, NaN ------------------------

def test_lightning_checkpoint_is_unwrapped_and_loads_strictly(save, tmp_path):
    path = save(ex.lightning_doctr_checkpoint(), "last.ckpt")
    result = run("fix", path, "-o", tmp_path / "reco.pt")
    assert result.exit_code == 0, result.stderr
    assert "stripped the 'model.' prefix" in result.stdout
    assert "loads strictly into crnn_mobilenet_v3_small" in result.stdout
    assert codes(run_check(tmp_path / "reco.pt")) == []


def test_ema_weights_are_not_training_state_and_key_picks_them(save, tmp_path):
    raw = ex.doctr_state_dict("crnn_mobilenet_v3_small")
    ema = {k: v * 0.5 if v.is_floating_point() else v for k, v in raw.items()}
    path = save({"model": raw, "model_ema": ema, "optimizer": ex.optimizer_state(ex.tiny_state_dict())}, "ckpt.pt")
    od103 = next(f for f in run_check(path).findings if f.rule == "OD103")
    assert od103.location == "optimizer"  # model_ema is a second set of weights
    assert run("fix", path, "-o", tmp_path / "raw.pt").exit_code == 0
    assert run("fix", path, "-o", tmp_path / "ema.pt", "--key", "model_ema").exit_code == 0
    written = torch.load(tmp_path / "ema.pt", weights_only=True)
    assert torch.equal(written["linear.weight"], ema["linear.weight"])
    assert torch.equal(torch.load(tmp_path / "raw.pt", weights_only=True)["linear.weight"], raw["linear.weight"])


def _bundle(save):
    return save({"model": {"det": ex.doctr_state_dict("db_mobilenet_v3_large"),
                           "reco": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789")},
                 "vocab": "0123456789", "epoch": 3}, "ocr.pt")


def test_a_bundle_is_checked_model_by_model(save):
    report = run_check(_bundle(save))
    [target] = report.targets
    assert target.summary["models"].startswith("model.det: db_mobilenet_v3_large (detection")
    assert "model.reco: crnn_mobilenet_v3_small (recognition, vocab of 10" in target.summary["models"]
    od104 = {f.member for f in report.findings if f.rule == "OD104"}
    assert od104 == {"model.det", "model.reco"}
    assert all(f.target == target.target for f in report.findings)
    assert "OD117" not in codes(report)  # the file's vocab fits the recognizer's head
    assert "OD113" not in codes(run_check_arch(_bundle(save), "crnn_mobilenet_v3_small"))


def run_check_arch(path, arch):
    from ocrdoctor.api import check_path

    return check_path(path, key="model.reco", arch=arch)


def test_fix_writes_each_model_of_a_bundle_into_a_folder_and_refuses_one_file(save, tmp_path):
    path = _bundle(save)
    one = run("fix", path, "-o", tmp_path / "out.pt")
    assert one.exit_code == 2 and "holds 2 models (model.det, model.reco)" in one.stderr and "--key" in one.stderr
    assert not (tmp_path / "out.pt").exists()
    result = run("fix", path, "-o", tmp_path / "clean")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "clean").iterdir()) == ["model.det.pt", "model.reco.config.json",
                                                                      "model.reco.pt"]
    assert codes(run_check(tmp_path / "clean" / "model.det.pt")) == []
    assert codes(run_check(tmp_path / "clean" / "model.reco.pt")) == []  # its vocab kept beside it


def test_fix_keeps_the_vocab_in_a_sidecar_and_in_safetensors_metadata(save, tmp_path):
    path = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "vocab": "0123456789",
                 "optimizer": ex.optimizer_state(ex.tiny_state_dict())}, "reco_epoch3.pt")
    result = run("fix", path, "-o", tmp_path / "reco.pt")
    assert result.exit_code == 0, result.stderr
    sidecar = tmp_path / "reco.config.json"
    assert f"kept: the model config in {sidecar}" in result.stdout
    assert "loads strictly into crnn_mobilenet_v3_small with a vocab of 10 and its stored vocab" in result.stdout
    import json

    assert json.loads(sidecar.read_text()) == {"arch": "crnn_mobilenet_v3_small", "vocab": "0123456789"}
    assert codes(run_check(tmp_path / "reco.pt")) == []  # the deployment check reads the sidecar
    again = run("fix", path, "-o", tmp_path / "other.pt")
    assert again.exit_code == 0
    sidecar.write_text("{}")
    refused = run("fix", path, "-o", tmp_path / "reco.pt", "--force")
    assert refused.exit_code == 0 and json.loads(sidecar.read_text())["vocab"] == "0123456789"
    st = run("fix", path, "-o", tmp_path / "reco.safetensors", "--safetensors")
    assert st.exit_code == 0 and not (tmp_path / "reco.safetensors.config.json").exists()
    from ocrdoctor.inspect.checkpoint import inspect_checkpoint

    assert inspect_checkpoint(tmp_path / "reco.safetensors").config.vocab == "0123456789"


def test_an_existing_sidecar_is_never_overwritten_without_force(save, tmp_path):
    path = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), "vocab": "0123456789"})
    (tmp_path / "reco.config.json").write_text('{"mine": true}')
    result = run("fix", path, "-o", tmp_path / "reco.pt")
    assert result.exit_code == 2 and "reco.config.json exists" in result.stderr
    assert not (tmp_path / "reco.pt").exists() and (tmp_path / "reco.config.json").read_text() == '{"mine": true}'


@pytest.mark.parametrize(("dtype", "source"), [("float32", "float64"), ("float32", "mixed"), ("float16", "float32"),
                                               ("bfloat16", "float32")])
def test_dtype_resolves_od107_and_od108(save, tmp_path, dtype, source):
    sd = ex.tiny_state_dict("float64" if source == "float64" else "float32")
    if source == "mixed":
        sd["0.weight"] = sd["0.weight"].half()
    path = save(sd, "in.pt")
    result = run("fix", path, "-o", tmp_path / "out.pt", "--dtype", dtype)
    assert result.exit_code == 0, result.stderr
    assert f"cast floating tensors to {dtype}" in result.stdout
    assert not {"OD107", "OD108"} & set(codes(run_check(tmp_path / "out.pt")))
    written = torch.load(tmp_path / "out.pt", weights_only=True)
    assert {str(v.dtype) for v in written.values() if v.is_floating_point()} == {f"torch.{dtype}"}


def test_nan_weights_are_refused_citing_od109(save, tmp_path):
    sd = ex.tiny_state_dict()
    sd["0.weight"][0, 0, 0, 0] = float("nan")
    result = run("fix", save(sd), "-o", tmp_path / "out.pt")
    assert result.exit_code == 2 and "NaN/Inf value" in result.stderr and "(OD109" in result.stderr
    assert not (tmp_path / "out.pt").exists()


def test_a_pickled_docTR_model_is_repaired_without_running_it(save, tmp_path):
    path = save(ex.doctr_model("crnn_mobilenet_v3_small"), "whole.pt")
    result = run("fix", path, "-o", tmp_path / "weights.pt")
    assert result.exit_code == 0, result.stderr
    assert "read the weights from the pickled model's module tree" in result.stdout
    assert "loads strictly into crnn_mobilenet_v3_small" in result.stdout
