"""Advice that fits the consumer: on a model ocrdoctor does not know, a fix that renames keys, moves storages or
rebuilds the model is `review`, never `safe`, and says why; on an ONNX graph another framework made, no fix names
`ocrdoctor export` (which rebuilds docTR models only)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run

torch = pytest.importorskip("torch")


class Recognizer(torch.nn.Module):
    """The shape of EasyOCR's recognizer (FeatureExtraction, SequenceModeling, Prediction), no docTR model."""

    def __init__(self) -> None:
        super().__init__()
        self.FeatureExtraction = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.BatchNorm2d(8))
        self.SequenceModeling = torch.nn.LSTM(8, 8, batch_first=True)
        self.Prediction = torch.nn.Linear(8, 97)


@pytest.fixture
def foreign(tmp_path):
    """Saved as EasyOCR's training does: through DataParallel (the `module.` prefix), from cuda:0."""
    from ocrdoctor.checks import examples as ex

    model = ex.make_trained(Recognizer())
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "english_g2.pth"
    ex.saved_from("cuda:0", lambda: state, "dp-cuda").write(path)
    return path


def test_rewrites_of_a_model_nobody_models_are_review_and_say_why(foreign):
    data = json.loads(run("check", foreign, "--format", "json").stdout)
    by_rule = {f["rule"]: f for f in data["findings"]}
    assert {"OD105", "OD106", "OD112"} <= set(by_rule)
    for code in ("OD105", "OD106"):
        finding = by_rule[code]
        assert finding["applicability"] == "review"
        assert "own loader may expect the file as it was saved" in finding["message"]
    text = run("check", foreign).stdout
    assert "(review)" in text and "(safe)" not in text


def test_fix_of_such_a_model_writes_and_says_it_could_not_check_a_strict_load(foreign, tmp_path):
    pytest.importorskip("doctr")
    out = tmp_path / "clean.pth"
    result = run("fix", foreign, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert out.exists() and "own loader may expect the file as it was saved" in result.stdout
    assert "loads strictly" not in result.stdout


def _foreign_onnx(path, dynamic: bool = False):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    batch = "N" if dynamic else 1
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["softmax_0.tmp_0"])], "ppocr-rec",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 48, 320])],
                              [helper.make_tensor_value_info("softmax_0.tmp_0", TensorProto.FLOAT,
                                                             [batch, 3, 48, 320])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="PaddlePaddle")
    onnx.save(model, str(path))
    return path


def test_an_onnx_graph_of_another_framework_is_named_and_never_told_to_use_ocrdoctor_export(tmp_path):
    path = _foreign_onnx(tmp_path / "ch_PP-OCRv4_rec.onnx")
    data = json.loads(run("check", path, "--format", "json").stdout)
    [target] = data["targets"]
    assert target["facts"]["origin"].startswith("another framework's graph (PaddlePaddle")
    [od402] = [f for f in data["findings"] if f["rule"] == "OD402"]
    assert "ocrdoctor export" not in (od402["fix"] or "") and od402["applicability"] is None
    assert "another framework's graph" in od402["message"]


def test_a_deployment_of_such_a_graph_says_so_in_one_line(tmp_path):
    pytest.importorskip("onnxtr")
    path = _foreign_onnx(tmp_path / "ch_PP-OCRv4_rec.onnx", dynamic=True)
    result = run("check", "--reco", path, "--reco-arch", "crnn_mobilenet_v3_small", "--format", "json")
    data = json.loads(result.stdout)
    [od126] = [f for f in data["findings"] if f["rule"] == "OD126"]
    assert "another framework's graph (PaddlePaddle" in od126["message"] and "\n" not in od126["message"]
    assert result.exit_code == 1
