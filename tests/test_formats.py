"""Each renderer is a pure function of a Report: golden outputs, and each consumer's parser accepts it.

Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 python -m pytest tests/test_formats.py
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from junitparser import JUnitXml

from ocrdoctor import __version__
from ocrdoctor.core.findings import Applicability, CheckError, Finding, Report, Severity, Skipped, TargetResult
from ocrdoctor.core.formats import options_for
from ocrdoctor.render import FORMATS, render
from tests.conftest import run

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
SUFFIX = {"text": "txt", "concise": "concise", "json": "json", "jsonl": "jsonl", "sarif": "sarif", "junit": "xml",
          "github": "github", "html": "html"}


def sample_report() -> Report:
    det = TargetResult(
        target="models/det.pt", kind="checkpoint",
        summary={"format": "zip", "bytes": 50_000_000, "architecture": "db_mobilenet_v3_large (detection)"},
        findings=(
            Finding("OD103", "training-state", Severity.WARNING, "models/det.pt",
                    "training state saved next to the weights: optimizer (31.9 MiB), epoch; 31.9 MiB, 66% of the 48.3 "
                    "MiB file",
                    "optimizer, epoch", 'torch.save(ckpt["model"], "weights.pt")', Applicability.SAFE),
            Finding("OD105", "wrapper-prefix", Severity.WARNING, "models/det.pt",
                    "all 384 keys start with 'module.': a plain model will not load them", "module.",
                    'from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present\n'
                    'consume_prefix_in_state_dict_if_present(sd, "module.")', Applicability.SAFE),
        ),
        rules=(("OD103", "training-state"), ("OD105", "wrapper-prefix"), ("OD109", "non-finite-weights"), ("OD113",
                                                                                                           "architecture-mismatch")),
        errors=(CheckError("OD113", "architecture-mismatch", "models/det.pt", "KeyError: 'x'"),),
        seconds=0.25,
    )
    reco = TargetResult(
        target="models/reco 50%.pth", kind="checkpoint", summary={"format": "zip", "bytes": 1024},
        findings=(
            Finding("OD109", "non-finite-weights", Severity.ERROR, "models/reco 50%.pth",
                    "3 NaN/Inf values in 1 tensor: linear.weight (3)", "linear.weight",
                    "Retrain from the last finite checkpoint"),
            Finding("OD112", "unknown-architecture", Severity.INFO, "models/reco 50%.pth",
                    "the keys match no docTR architecture; OD113 and OD114 were skipped"),
        ),
        skipped=(Skipped("OD113", "architecture-mismatch", "models/reco 50%.pth",
                         "architecture unknown (pass --arch NAME)"),),
        rules=(("OD109", "non-finite-weights"), ("OD112", "unknown-architecture"), ("OD113", "architecture-mismatch")),
        seconds=0.5,
    )
    bundle = TargetResult(
        target="models/ocr.pt", kind="checkpoint",
        summary={"format": "zip", "bytes": 70_000_000,
                 "models": "model.det: db_mobilenet_v3_large (detection); model.reco: crnn_vgg16_bn (recognition)"},
        findings=(
            Finding("OD117", "vocab-not-stored", Severity.WARNING, "models/ocr.pt",
                    "no vocab stored with a head of 11 outputs: it fits docTR 1.1.0's digits (10 characters)",
                    "head of 11 outputs", member="model.reco",
                    command="ocrdoctor fix models/ocr.pt -o models/ocr-clean"),
        ),
        rules=(("OD117", "vocab-not-stored"),),
        seconds=0.75,
    )
    return Report((det, reco, bundle))


def test_a_model_inside_a_file_is_named_in_every_format():
    report = sample_report()
    data = json.loads(render(report, "json"))
    [od117] = [f for f in data["findings"] if f["rule"] == "OD117"]
    assert (od117["target"], od117["member"]) == ("models/ocr.pt", "model.reco")
    assert od117["command"] == "ocrdoctor fix models/ocr.pt -o models/ocr-clean"
    sarif = json.loads(render(report, "sarif"))
    [result] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "OD117"]
    [location] = result["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "models/ocr.pt"
    assert location["logicalLocations"][0] == {"name": "model.reco", "kind": "module",
                                               "fullyQualifiedName": "model.reco"}
    text = render(report, "text")
    assert "OD117 warning vocab-not-stored [model.reco]: no vocab" in text
    assert text.index("at: head of 11 outputs") < text.index(
        "fix for OD117 [model.reco]: run ocrdoctor fix models/ocr.pt -o models/ocr-clean")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden_output(fmt):
    options = options_for(fmt, color=False, fail_on=Severity.WARNING)
    text = render(sample_report(), fmt, **options).replace(__version__, "VERSION")
    golden = GOLDEN / f"report.{SUFFIX[fmt]}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_sarif_is_valid_sarif_2_1_0():
    schema = json.loads((HERE / "data" / "sarif-schema-2.1.0.json").read_text())
    log = json.loads(render(sample_report(), "sarif"))
    jsonschema.validate(log, schema)
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    levels = [(r["ruleId"], r["level"]) for r in run_["results"]]
    assert levels == [("OD103", "warning"), ("OD105", "warning"), ("OD109", "error"), ("OD112", "note"), ("OD117",
                                                                                                          "warning")]
    for result in run_["results"]:
        rule = rules[result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]
        assert rule["helpUri"].endswith(f"#{rule['id'].lower()}") and "## Fix" in rule["help"]["text"]
    location = run_["results"][2]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "models/reco%2050%25.pth"
    assert run_["invocations"][0]["toolExecutionNotifications"][0]["level"] == "error"


def test_junit_is_read_by_junitparser(tmp_path):
    path = tmp_path / "report.xml"
    path.write_text(render(sample_report(), "junit", fail_on=Severity.WARNING))
    xml = JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    det = suites["models/det.pt"]
    assert (det.tests, det.failures, det.errors, det.skipped) == (4, 2, 1, 0)
    reco = suites["models/reco 50%.pth"]
    assert (reco.tests, reco.failures, reco.errors, reco.skipped) == (3, 1, 0, 1)
    case = next(c for c in reco if c.name == "OD112 unknown-architecture")
    assert case.is_passed and "OD112 info" in case.system_out  # below --fail-on: passes, finding shown


def test_junit_failures_follow_fail_on():
    root = ET.fromstring(render(sample_report(), "junit", fail_on=Severity.ERROR))
    assert root.get("failures") == "1" and root.get("tests") == "8"


def test_github_annotations_escape_and_map_levels():
    lines = render(sample_report(), "github").splitlines()
    assert lines[0].startswith("::warning file=models/det.pt,title=OD103 training-state::training state")
    assert lines[2].startswith("::error file=models/reco 50%25.pth,title=OD109 non-finite-weights::")
    assert lines[3].startswith("::notice ")
    assert "%0Afix: Retrain" in lines[2] and all("\n" not in line for line in lines)
    assert lines[-1].startswith("::error title=OD113 check error::models/det.pt")


def test_cli_offers_every_renderer():
    """One registry: the CLI's choices, the config's `format` key and render() read the same formats."""
    import inspect

    from ocrdoctor.cli.check import check
    from ocrdoctor.cli.common import FORMATS as CLI_FORMATS
    from ocrdoctor.core.config import ConfigError, _parse
    from ocrdoctor.core.formats import format_names, get_format

    assert CLI_FORMATS == list(FORMATS) == list(format_names())
    [option] = [p for p in check.params if p.name == "fmt"]
    assert list(option.type.choices) == list(format_names())
    for fmt in format_names():
        assert _parse({"format": fmt}, Path("pyproject.toml")).format == fmt
        taken = set(inspect.signature(get_format(fmt).load()).parameters) - {"report"}
        assert set(get_format(fmt).options) == taken, fmt  # what the registry says each renderer takes
    with pytest.raises(ConfigError, match="must be one of text, concise"):
        _parse({"format": "xml"}, Path("pyproject.toml"))


def test_an_option_a_format_does_not_take_is_an_error(save):
    """render() never drops an option silently: JSON takes no colour."""
    import ocrdoctor
    from ocrdoctor.checks import examples as ex

    report = ocrdoctor.check_path(save({"model": ex.tiny_state_dict()}))
    with pytest.raises(TypeError, match="format 'json' takes no option 'color'"):
        render(report, "json", color=True)
    assert render(report, "text", color=False).startswith(str(report.targets[0].target))


def test_formats_through_the_cli_on_a_real_file(save):
    from ocrdoctor.checks import examples as ex

    path = save({"model": ex.tiny_state_dict()})
    for fmt in FORMATS:
        result = run("check", path, "--format", fmt)
        assert result.exit_code == 0, (fmt, result.stderr)
        assert "OD104" in result.stdout, fmt
