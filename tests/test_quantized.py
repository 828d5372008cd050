"""Quantized docTR recognizers: packed parameters are quantized weights (OD124, OD120), never code (OD101),
read under the float model's keys, and `fix` writes them dequantized so the float model loads them."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("doctr")

from ocrdoctor.api import check_path  # noqa: E402
from ocrdoctor.checks import examples as ex  # noqa: E402
from tests.conftest import run  # noqa: E402


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quantized")
    model = ex.dynamic_quantized()
    both = folder / "lstm-linear.pt"
    torch.save(model.state_dict(), both)
    linear = folder / "linear.pt"
    torch.save(ex.dynamic_quantized(layers=("Linear",)).state_dict(), linear)
    return model, both, linear


def test_packed_parameters_are_quantized_weights_not_code(quantized):
    _, both, _ = quantized
    report = check_path(both)
    rules = {f.rule for f in report.findings}
    assert "OD101" not in rules and "OD113" not in rules, report.findings
    assert {"OD120", "OD124"} <= rules
    assert report.targets[0].summary["architecture"].startswith("crnn_mobilenet_v3_small")
    od124 = next(f for f in report.findings if f.rule == "OD124")
    assert od124.message.startswith("9 quantized tensors (qint8)") and od124.command.startswith("ocrdoctor fix")


def test_linear_only_is_named_from_the_float_layout(quantized):
    _, _, linear = quantized
    report = check_path(linear)
    assert "OD113" not in {f.rule for f in report.findings}
    assert report.targets[0].summary["architecture"].startswith("crnn_mobilenet_v3_small")
    assert next(f for f in report.findings if f.rule == "OD124").message.startswith("1 quantized tensor (qint8)")


def test_od120_program_loads_the_packed_parameters(quantized, tmp_path):
    model, both, _ = quantized
    od120 = next(f for f in check_path(both).findings if f.rule == "OD120")
    assert od120.location == "torch.ScriptObject"
    script = f"path = {str(both)!r}\n{od120.fix}\nprint(sorted(ckpt)[0])\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-1500:]


def test_fix_writes_the_dequantized_float_weights(quantized, tmp_path):
    model, both, _ = quantized
    out = tmp_path / "float.pt"
    result = run("fix", both, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "dequantized 9 tensors (qint8) to float32" in result.stdout
    assert "loads strictly into crnn_mobilenet" in result.stdout
    assert "_all_weight_values" not in result.stdout  # converted, not removed
    written = torch.load(out, weights_only=True)
    float_model = ex.doctr_model("crnn_mobilenet_v3_small", trained=False)
    float_model.load_state_dict(written, strict=True)
    ih = model.decoder._all_weight_values[1].param.__getstate__()[0][4][0].__getstate__()[0][0]  # l0_reverse, packed
    assert torch.equal(written["decoder.weight_ih_l0_reverse"], ih.dequantize())
    assert torch.equal(written["linear.weight"], model.linear.weight().dequantize())
    assert codes_of(check_path(out)) == set()


def codes_of(report) -> set[str]:
    return {f.rule for f in report.findings if f.severity.value != "info"}


def test_other_script_objects_stay_unsafe(tmp_path):
    """A ScriptObject naming another TorchBind class, or none, runs code this model does not cover: OD101."""
    from tests.torchfile import global_, pickled, text, tuple_

    for name, state in (("other-class", tuple_(b"(t", text("__torch__.torch.classes.myext.Runner"))),
                        ("no-class", text("x"))):
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickled(b"}(" + text("w") + global_("torch", "ScriptObject") + b")\x81" + state + b"bu"))
        od101 = [f for f in check_path(path).findings if f.rule == "OD101"]
        assert od101 and "torch.ScriptObject" in od101[0].message, name


def test_static_quantization_is_refused_in_one_line(tmp_path):
    path = tmp_path / "static.pt"
    torch.save(ex.quantized_state_dict(), path)
    result = run("fix", path, "-o", tmp_path / "out.pt")
    assert result.exit_code == 2
    assert "statically quantized" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.pt").exists()
