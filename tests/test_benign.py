"""What real training scripts save beside the weights is not an attack: never OD101.

Files torch's default (weights-only) load refuses get OD120 with the exact names, every other
rule still runs, and the printed fix loads the file as pasted. Torch-free where the file can be
written without torch (tests/torchfile.py); the rest needs torch.
"""

from __future__ import annotations

import numpy as np
import pytest

from ocrdoctor.api import check_path
from ocrdoctor.inspect.checkpoint import inspect_checkpoint
from tests import torchfile as tf
from tests.conftest import codes

WEIGHTS = tf.trained({"conv.weight": (4, 3, 3, 3), "conv.bias": (4,), "bn.running_var": (4,),
                      "bn.num_batches_tracked": ()})


def _lightning(tmp_path):
    hparams = tf.instance("pytorch_lightning.utilities.parsing", "AttributeDict",
                          items={"arch": "crnn_vgg16_bn", "vocab": "0123456789", "lr": 1e-3})
    return tf.save_zip(tmp_path / "last.ckpt", {
        "epoch": 4, "global_step": 800, "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in WEIGHTS.items()},
        "hyper_parameters": hparams, "loops": {"fit_loop": {"epoch_progress": {"total": 5}}},
    })


def _omegaconf(tmp_path):
    meta = tf.instance("omegaconf.base", "ContainerMetadata", state={"ref_type": tf.Raw(tf.global_("typing", "Any")),
                                                                    "object_type": tf.Raw(tf.global_("builtins",
                                                                                                     "dict"))})
    config = tf.instance("omegaconf.dictconfig", "DictConfig", state={"_metadata": meta, "_parent": None,
                                                                      "_content": {"lr": 0.001}})
    return tf.save_zip(tmp_path / "hydra.pt", {"model": WEIGHTS, "cfg": config})


def _defaultdict_and_datetime(tmp_path):
    history = tf.Raw(tf.call(tf.global_("collections", "defaultdict"), tf.global_("builtins",
                                                                                  "list")) + b"(X\x04\0\0\0lossl"
                                                                                  + tf.value(0.5) + b"au")
    stamp = tf.Raw(tf.call(tf.global_("datetime", "datetime"), tf.value(b"\x07\xe8\x01\x02\x03\x04\x05\x00\x00\x00")))
    return tf.save_zip(tmp_path / "run.pt", {"model": WEIGHTS, "history": history, "saved_at": stamp})


@pytest.mark.parametrize("make", [_lightning, _omegaconf, _defaultdict_and_datetime], ids=lambda f: f.__name__[1:])
def test_containers_real_files_hold_are_od120_not_od101(make, tmp_path):
    result = check_path(make(tmp_path))
    assert "OD101" not in codes(result)
    od120 = next(f for f in result.findings if f.rule == "OD120")
    assert "none of them runs code" in od120.message
    [target] = result.targets
    assert not any(s.reason.startswith("not checked") for s in target.skipped)  # every other rule ran


def test_lightning_weights_are_found_beside_its_state(tmp_path):
    facts = inspect_checkpoint(_lightning(tmp_path))
    assert facts.weights_key == "state_dict" and len(facts.weights) == len(WEIGHTS)
    assert {e.key for e in facts.entries} >= {"hyper_parameters", "loops", "epoch"}


def test_plain_extras_need_nothing(tmp_path):
    path = tf.save_zip(tmp_path / "m.pt", {"model": WEIGHTS, "epoch": 3, "vocab": "abc", "metrics": {"acc": 0.9}})
    assert not {"OD101", "OD120"} & set(codes(check_path(path)))


def test_a_user_class_that_is_not_a_module_is_unsafe(tmp_path):
    """Only nn.Module classes are tolerated (OD102); any other class of the user's code could run anything."""
    config = tf.instance("train", "Config", state={"lr": 0.1})
    facts = inspect_checkpoint(tf.save_zip(tmp_path / "m.pt", {"model": WEIGHTS, "config": config}))
    assert facts.unsafe_globals == ("train.Config (instantiated)",)


# --- with torch: real numpy, Namespace and Path entries, and the OD120 fix run as pasted ---------

def test_numpy_namespace_and_path_with_the_fix_run_as_pasted(tmp_path):
    torch = pytest.importorskip("torch")
    from ocrdoctor.checks import examples as ex

    path = tmp_path / "train.pt"
    torch.save(ex.with_harmless_extras(), path)
    result = check_path(path)
    assert "OD101" not in codes(result) and {"OD104", "OD120"} <= set(codes(result))
    assert "OD103" not in codes(result)  # the arguments and a metric beside the weights: small run metadata
    od120 = next(f for f in result.findings if f.rule == "OD120")
    assert "argparse.Namespace" in od120.location and "pathlib.PosixPath" in od120.location
    assert "numpy.dtypes.Float64DType" in od120.location
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(path, weights_only=True)  # what the finding says (torch's default from 2.6)
    namespace = {"path": str(path)}
    exec(od120.fix, namespace)  # the fix, as printed
    assert namespace["ckpt"]["args"].arch == "tiny" and float(namespace["ckpt"]["best_loss"]) == 0.25


def test_a_pickled_module_of_the_users_own_class_is_od101_until_the_team_trusts_it(tmp_path):
    """A class is a module only if ocrdoctor models it or the team trusts it (issue 26): the state a pickle gives
    it proves nothing. Untrusted: OD101 naming the class and --trust; trusted: OD102 naming it as the team's."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "net.pt"
    torch.save(OwnNet(), path)
    name = f"{OwnNet.__module__}.OwnNet"
    result = check_path(path)
    [od101] = [f for f in result.findings if f.rule == "OD101"]
    assert name in od101.message and f"--trust '{OwnNet.__module__.split('.')[0]}.*'" in od101.message
    assert result.exit_code() == 1
    trusted = check_path(path, trusted_globals=f"{OwnNet.__module__}.*")
    assert codes(trusted) == ["OD102", "OD112"]  # a pickled model, of no docTR architecture
    assert f"your own classes: {name}" in trusted.findings[0].message
    assert "imports those classes and runs their code" in trusted.findings[0].message


def _own_net():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.act = torch.nn.functional.relu  # a function kept as an attribute: part of the model's code

    return Net


try:
    OwnNet = _own_net()
    OwnNet.__qualname__ = OwnNet.__name__ = "OwnNet"
except ImportError:  # torch missing: the tests using it skip
    OwnNet = None


def test_numpy_arrays_are_read_as_values_not_tensors(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "m.pt"
    torch.save({"model": {k: torch.from_numpy(v.copy()) for k, v in WEIGHTS.items()},
                "confusion": np.eye(3), "best": np.float32(0.9)}, path)
    facts = inspect_checkpoint(path)
    assert facts.weights_key == "model" and len(facts.tensors) == len(WEIGHTS)
