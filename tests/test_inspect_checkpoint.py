"""The checkpoint inspector turns real files into the right facts, without executing them."""

from __future__ import annotations

import pickle
import warnings

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.checkpoint import inspect_checkpoint


def test_zip_state_dict_facts(save):
    sd = ex.tiny_state_dict()
    facts = inspect_checkpoint(save(sd))
    assert facts.format == "zip" and facts.problem is None and facts.weights_key == ""
    by_name = {t.name: t for t in facts.weights}
    assert set(by_name) == set(sd)
    w = by_name["0.weight"]
    assert (w.shape, w.dtype, w.device, w.nbytes) == ((8, 3, 3, 3), "float32", "cpu", 8 * 27 * 4)
    assert by_name["1.num_batches_tracked"].constant == 1000.0


def test_saved_device_tags_are_recorded_without_a_gpu(save):
    with ex.storages_tagged("cuda:1"):
        path = save({"w": torch.ones(3)})
    facts = inspect_checkpoint(path)
    assert [t.device for t in facts.tensors] == ["cuda:1"]


def test_lightning_style_checkpoint(save):
    sd = ex.tiny_state_dict()
    ckpt = {
        "epoch": 4, "global_step": 800, "pytorch-lightning_version": "2.4.0",
        "state_dict": sd, "optimizer_states": [ex.optimizer_state(sd)], "lr_schedulers": [{"last_epoch": 4}],
        "hyper_parameters": {"arch": "crnn"},
    }
    facts = inspect_checkpoint(save(ckpt, "last.ckpt"))
    assert facts.weights_key == "state_dict" and len(facts.weights) == len(sd)
    entries = {e.key: e for e in facts.entries}
    assert set(entries) == {"epoch", "global_step", "pytorch-lightning_version", "optimizer_states", "lr_schedulers",
                            "hyper_parameters"}
    floats = sum(v.numel() * 4 for v in sd.values() if v.is_floating_point())
    assert entries["optimizer_states"].tensors > 0
    assert entries["optimizer_states"].nbytes > 2 * floats  # AdamW: two moments per weight


def test_ema_copy_does_not_win_over_the_model(save):
    sd = ex.tiny_state_dict()
    facts = inspect_checkpoint(save({"ema": sd, "model": sd}))
    assert facts.weights_key == "model"


def test_nested_weights_key(save):
    facts = inspect_checkpoint(save({"checkpoint": {"model_state_dict": ex.tiny_state_dict()}}))
    assert facts.weights_key == "checkpoint.model_state_dict"


def test_odd_keys_on_the_way_to_the_weights(save):
    from ocrdoctor.api import check_path

    path = save({"run.v2": {7: ex.tiny_state_dict()}})
    facts = inspect_checkpoint(path)
    assert facts.weights_path == ("run.v2", 7) and len(facts.weights) == 9
    od104 = next(f for f in check_path(path).findings if f.rule == "OD104")
    assert 'sd = ckpt["run.v2"][7]' in od104.fix


def test_view_keeps_its_storage_size(save):
    facts = inspect_checkpoint(save({"w": torch.zeros(1000)[:10]}))
    [t] = facts.weights
    assert (t.nbytes, t.storage_nbytes) == (40, 4000)


def test_nonfinite_counts(save):
    facts = inspect_checkpoint(save({"w": torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])}))
    assert facts.weights[0].nonfinite == 3


def test_legacy_and_safetensors_formats(save, tmp_path):
    from safetensors.torch import save_file

    legacy = inspect_checkpoint(save(ex.tiny_state_dict(), _use_new_zipfile_serialization=False))
    assert legacy.format == "legacy" and len(legacy.weights) == 9
    path = tmp_path / "m.safetensors"
    save_file(ex.tiny_state_dict(), path)
    st = inspect_checkpoint(path)
    assert st.format == "safetensors" and len(st.weights) == 9


def test_torchscript_and_plain_pickles_are_named(tmp_path):
    from ocrdoctor.api import check_path

    script = tmp_path / "scripted.pt"
    with warnings.catch_warnings():  # newer torch warns that TorchScript is deprecated
        warnings.simplefilter("ignore")
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(script))
    facts = inspect_checkpoint(script)
    assert facts.format == "torchscript" and facts.problem is None and facts.weights is None
    [finding] = check_path(script).findings
    assert finding.rule == "OD121" and "torch.jit.load" in finding.message
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=2))
    assert "plain pickle" in inspect_checkpoint(plain).problem


def test_unreadable_reasons(tmp_path):
    cases = {
        b"": "empty file",
        b"hello\n": "a text file",
        b"\x13\x37" * 20: "unrecognised content",
        b"PK\x03\x04" + b"\0" * 30: "zip archive",
    }
    for data, expected in cases.items():
        path = tmp_path / "x.pt"
        path.write_bytes(data)
        assert expected in inspect_checkpoint(path).problem
    missing = inspect_checkpoint(tmp_path / "missing.pt")
    assert missing.problem.startswith("cannot open")


def test_torch_load_is_never_called_on_the_users_file(save, tmp_path, monkeypatch):
    """check, check --arch (the model is built) and fix read the file with the torch-free reader only."""
    from ocrdoctor.api import check_path
    from ocrdoctor.treat.fix import fix_checkpoint

    path = save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small"), "epoch": 2}, "reco.pt")
    calls = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        calls.append(str(f))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    check_path(path)
    check_path(path, arch="crnn_mobilenet_v3_small")
    fix_checkpoint(path, tmp_path / "clean.pt")
    assert str(path) not in calls
    assert all(".ocrdoctor-" in c for c in calls)  # only fix's own fresh output, reloaded to prove it loads
