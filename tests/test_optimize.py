"""`ocrdoctor.optimize` on real docTR predictors: every fix applied, the proof on a sample page,
and a proof that can fail."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

import ocrdoctor
from ocrdoctor.anatomy.versions import fast_fusion_sound
from ocrdoctor.checks import examples as ex
from ocrdoctor.treat import optimize as tune
from tests.conftest import codes

pytestmark = pytest.mark.slow  # optimize proves itself on real predictors, some in bfloat16


def _predictor(det: str = "fast_tiny", reco: str = "crnn_mobilenet_v3_small"):
    from doctr import models

    return models.ocr_predictor(det_arch=ex.doctr_model(det), reco_arch=ex.doctr_model(reco), pretrained=False)


@pytest.fixture(scope="module")
def slow_predictor():
    """The seed's custom predictor, made slow three ways: float64, a model in training mode, FAST unfused."""
    from ocrdoctor.treat.samples import text_page

    predictor = _predictor()
    ex.calibrate_batchnorm(predictor.det_predictor.model, predictor.det_predictor.pre_processor([text_page(1)])[0])
    predictor = predictor.double()
    predictor.det_predictor.model.train()
    return predictor


def test_optimize_applies_every_fix_and_proves_it(slow_predictor, capsys):
    assert {"OD206", "OD207", "OD208"} <= set(codes(ocrdoctor.diagnose(slow_predictor, environment=False)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", tune.ToleranceWarning)
        optimized = ocrdoctor.optimize(slow_predictor, device="cpu")
    assert optimized is slow_predictor
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("optimized for cpu, float32: eval mode (")
    assert lines[1].startswith("sample page: predictor.det_predictor.model: probabilities within ")
    assert lines[2].endswith(", 4 of 4 words identical")
    # Random weights read garbage on the pair's sample pages ('llllllll...'): the float64 -> float32 cast may
    # flip a near-tie, and a changed word is flagged. The verdict follows the words (the pair's own proof:
    # tests/test_compare.py).
    (reading,) = [line for line in lines if line.startswith("in words: ")]
    if reading.startswith("in words: reads the same on 3 pages"):
        assert lines[-1] == "within tolerance" and not caught
    else:
        assert reading.startswith("in words: reads differently on 3 pages")
        assert lines[-1].startswith("OUTSIDE tolerance") and "reads differently" in str(caught[0].message)
    if fast_fusion_sound():
        assert "reparameterized FAST (predictor.det_predictor.model); cast from float64 to float32" in lines[0]
        assert codes(ocrdoctor.diagnose(optimized, environment=False)) == []
    else:  # docTR 0.8: fusing would change the outputs, so FAST stays unfused and OD208 says to upgrade first
        assert "left FAST in its training form (predictor.det_predictor.model)" in lines[0]
        assert codes(ocrdoctor.diagnose(optimized, environment=False)) == ["OD208"]
    assert all(p.dtype == torch.float32 for p in optimized.parameters())


def test_an_already_fast_predictor_is_left_as_is():
    result = tune.optimize_report(_predictor("db_mobilenet_v3_large").eval(), device="cpu", dtype="float32")
    assert result.changes == () and result.ok
    assert result.describe().splitlines()[0] == "optimized for cpu, float32: nothing to change"


def test_outside_tolerance_warns_and_strict_raises(monkeypatch):
    """bfloat16 on the CPU moves detection probabilities by ~1e-2; with a float32-sized tolerance that fails.

    The detector reads 256x256 pages: bfloat16 convolutions without CPU support are slow (minutes at 1024).
    """
    import copy

    from doctr import models

    monkeypatch.setitem(tune.TOLERANCE, "bfloat16", 1e-6)
    det = ex.doctr_model("db_mobilenet_v3_large")
    det.cfg = {**det.cfg, "input_shape": (3, 256, 256)}  # the predictor's pre-processor follows the cfg
    predictor = models.ocr_predictor(det_arch=det, reco_arch=ex.doctr_model("crnn_mobilenet_v3_small"),
                                     pretrained=False)
    try:
        torch.nn.LSTM(2, 2).bfloat16()(torch.rand(1, 1, 2, dtype=torch.bfloat16))
    except RuntimeError:  # this torch has no CPU LSTM kernel in bfloat16 (2.4): optimize says so, no traceback
        with pytest.raises(tune.OptimizeError,
                           match="in bfloat16 fails on the sample page: .*; it was moved back, keep its dtype$"):
            tune.optimize(predictor, device="cpu", dtype="bfloat16", verbose=False)
        return
    with pytest.warns(tune.ToleranceWarning, match="outside tolerance on the sample page"):
        tune.optimize(copy.deepcopy(predictor), device="cpu", dtype="bfloat16", verbose=False)
    with pytest.raises(tune.OptimizeError, match=r"^optimized predictor outside tolerance"):
        tune.optimize(predictor, device="cpu", dtype="bfloat16", verbose=False, strict=True)


def test_a_failed_run_after_the_move_puts_every_tensor_back(monkeypatch):
    """A dtype without a kernel here fails only when the model runs: the predictor is moved back, buffers too."""
    from doctr import models

    predictor = models.recognition_predictor(ex.doctr_model("crnn_mobilenet_v3_small"), pretrained=False)
    run = tune._outputs

    def no_kernel(model, x):
        if next(model.parameters()).dtype == torch.bfloat16:
            raise RuntimeError("\"lstm\" not implemented for 'BFloat16'")
        return run(model, x)

    monkeypatch.setattr(tune, "_outputs", no_kernel)
    with pytest.raises(tune.OptimizeError, match="fails on the sample page: RuntimeError: \"lstm\" not implemented"):
        tune.optimize(predictor, device="cpu", dtype="bfloat16", verbose=False)
    dtypes = {t.dtype for t in (*predictor.parameters(), *predictor.buffers()) if t.is_floating_point()}
    assert dtypes == {torch.float32}


def test_a_bare_module_is_optimized_without_a_sample():
    net = ex.tiny_net(train=True, dtype="float64")
    result = tune.optimize_report(net, device="cpu")
    assert result.changes == ("eval mode (2 modules were training)", "cast from float64 to float32")
    assert result.comparisons == () and "not a docTR detection or recognition model" in result.unchecked
    assert not net.training and next(net.parameters()).dtype == torch.float32


@pytest.mark.parametrize(("obj", "kwargs", "error", "message"), [
    ("not a model", {}, ocrdoctor.inspect.model.NotAModel, "expects a docTR predictor or a torch.nn.Module, got str"),
    (None, {"dtype": "float8"}, tune.OptimizeError, "unknown dtype 'float8'"),
    (None, {"device": "tpu"}, tune.OptimizeError, "unknown device 'tpu'"),
])
def test_bad_input_is_one_line(obj, kwargs, error, message):
    with pytest.raises(error, match=message) as info:
        tune.optimize(obj if obj is not None else ex.tiny_net(), verbose=False, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the CPU-only case")
def test_cuda_without_a_gpu_is_refused_before_anything_changes():
    net = ex.tiny_net(train=True)
    with pytest.raises(tune.OptimizeError, match=r"torch.cuda.is_available\(\) is False"):
        tune.optimize(net, device="cuda", verbose=False)
    assert net.training


def test_meta_weights_cannot_run_and_say_why():
    net = ex.split_across_devices()
    with pytest.raises(tune.OptimizeError, match="cannot move the predictor to cpu, float32"):
        tune.optimize(net, device="cpu", verbose=False)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_on_a_gpu_the_seed_scenario_is_fixed():
    predictor = _predictor("db_mobilenet_v3_large")
    result = tune.optimize_report(predictor)
    assert result.device == "cuda" and result.ok, result.describe()
    assert codes(ocrdoctor.diagnose(predictor, environment=False)) == []
