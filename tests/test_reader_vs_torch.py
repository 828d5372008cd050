"""The reader's facts equal torch's own view of the same file (torch.load here is a test-only use).

On every checkpoint rule example, real docTR checkpoints in several dtypes and layouts, a pickled
docTR model and the files tests/torchfile.py writes without torch: names, shapes, dtypes, saved
device tags, storage sizes, NaN/Inf counts, constants, means and standard deviations.
"""

from __future__ import annotations

import math

import pytest

from ocrdoctor.inspect.quantized import packed
from ocrdoctor.read.checkpoint import read_checkpoint
from ocrdoctor.read.values import _EXTREMES as EXTREMES

torch = pytest.importorskip("torch")

from ocrdoctor.checks import examples as ex  # noqa: E402
from ocrdoctor.checks.examples import Example  # noqa: E402
from ocrdoctor.core.registry import default  # noqa: E402
from ocrdoctor.inspect.checkpoint import inspect_checkpoint  # noqa: E402
from tests import torchfile as tf  # noqa: E402

EXAMPLES = [(r.code, e) for r in default.load().sorted_rules("checkpoint") for e in (*r.good, *r.bad)
            if isinstance(e, Example)]


def _torch_view(path, weights_path):
    """{name: (tensor, saved device)} of the state_dict at `weights_path`, as torch.load sees it."""
    devices = {}

    def record(storage, location):
        devices[storage.data_ptr()] = location
        return storage

    obj = torch.load(path, map_location=record, weights_only=False)
    if weights_path is None:  # a pickled model: its weights are its state_dict
        obj = next(v for v in ([obj] + list(obj.values() if isinstance(obj, dict) else []))
                   if isinstance(v, torch.nn.Module)).state_dict()
    for key in weights_path or ():
        obj = obj[key]
    return {str(k): (v, devices.get(v.untyped_storage().data_ptr(), "cpu")) for k, v in obj.items()
            if isinstance(v, torch.Tensor)}


def assert_same_view(path):
    facts = inspect_checkpoint(path)
    assert not facts.unsafe and facts.weights is not None, (facts.problem, facts.unsafe_globals)
    expected = _torch_view(path, facts.weights_path)
    assert [t.name for t in facts.weights] == list(expected)
    for info in facts.weights:
        tensor, device = expected[info.name]
        assert (info.shape, info.dtype, info.device) == (tuple(tensor.shape), str(tensor.dtype)[6:], device)
        assert (info.nbytes, info.storage_nbytes) == (tensor.numel() * tensor.element_size(),
                                                      tensor.untyped_storage().nbytes())
        assert info.has_data
        _assert_same_values(info, tensor)


def _assert_same_values(info, tensor):
    if tensor.is_quantized or tensor.is_complex() or tensor.numel() == 0:
        return
    values = tensor.detach().double().reshape(-1)
    finite = values[torch.isfinite(values)]
    assert info.nonfinite == values.numel() - finite.numel()
    if finite.numel():
        assert math.isclose(info.mean, float(finite.mean()), rel_tol=1e-9, abs_tol=1e-9)
        if values.numel() <= EXTREMES:  # past it no rule asks whether a weight matrix is constant
            assert info.minimum == float(finite.min()) and info.maximum == float(finite.max())
    if values.numel() <= EXTREMES:
        all_equal = finite.numel() == values.numel() and bool((values == values[0]).all())
        assert (info.constant is not None) == all_equal


@pytest.mark.slow
@pytest.mark.parametrize(("code", "example"), EXAMPLES, ids=[f"{c}-{e.label}" for c, e in EXAMPLES])
def test_rule_examples(code, example, tmp_path):
    path = tmp_path / f"example{example.suffix}"
    example.write(path)
    facts = inspect_checkpoint(path)
    if facts.unsafe or facts.weights is None or not all(t.has_data for t in facts.weights):
        pytest.skip("an unsafe, unreadable or data-less example: torch.load must not (or cannot) read it")
    with read_checkpoint(path) as ckpt:
        if isinstance(ckpt.root, dict) and packed(ckpt.root):
            pytest.skip("packed quantized parameters are read under the float layout (tests/test_quantized.py)")
    assert_same_view(path)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_docTR_detector_in_each_dtype(dtype, save, db_state_dict):
    sd = {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in db_state_dict.items()}
    assert_same_view(save(sd, "det.pt"))


def test_docTR_recognizer_training_checkpoint_saved_from_gpu(save):
    sd = ex.doctr_state_dict("crnn_mobilenet_v3_small")
    with ex.storages_tagged("cuda:1"):
        path = save({"model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": ex.optimizer_state(sd),
                     "epoch": 4})
    assert_same_view(path)
    facts = inspect_checkpoint(path)
    assert {t.device for t in facts.tensors} == {"cuda:1"}


def test_legacy_layout_and_views_of_a_larger_storage(save):
    big = torch.arange(100, dtype=torch.float32)
    sd = {"a": big[10:20], "b": big[50:60].view(2, 5), "t": torch.rand(3, 4).t(), **ex.tiny_state_dict()}
    assert_same_view(save(sd, "legacy.pt", _use_new_zipfile_serialization=False))
    assert_same_view(save(sd, "zip.pt"))


def test_pickled_docTR_model_tree_matches_its_state_dict(save):
    model = ex.doctr_model("fast_tiny")
    facts = inspect_checkpoint(save(model, "whole.pt"))
    assert facts.pickled_module and facts.weights_origin == "module"
    expected = model.state_dict()
    assert [t.name for t in facts.weights] == list(expected)
    for info in facts.weights:
        assert info.shape == tuple(expected[info.name].shape)
        _assert_same_values(info, expected[info.name])
    assert facts.architecture.arch == "fast_tiny" and facts.architecture.form == "training"


@pytest.mark.parametrize("writer", [tf.save_zip, tf.save_legacy, tf.save_tar], ids=["zip", "legacy", "tar"])
def test_files_written_without_torch_load_in_torch(writer, tmp_path):
    arrays = tf.trained({"conv.weight": (4, 3, 3, 3), "conv.bias": (4,), "bn.num_batches_tracked": ()})
    path = writer(tmp_path / "m.pt", arrays)
    loaded = torch.load(path, weights_only=False)
    assert {k: v.numpy().tolist() for k, v in loaded.items()} == {k: v.tolist() for k, v in arrays.items()}
    if writer is not tf.save_tar:  # torch's weights-only loader refuses the pre-0.4 tar layout
        assert_same_view(path)
