"""The run's guarantees, held once: every target kind through the same plan and loop (run/).

For each kind a real target is made (a committed checkpoint, the same file served over HTTP, an
ONNX graph, a docTR model built from a file, a live module, an OnnxTR predictor's facts, this
machine, a compared page) and put through a registry of stand-in rules: one that always fires
and one that always skips, per kind. Whatever the kind: a selection without its rules, or whose
rules all skip, leaves it *not checked* (never clean) and a run of it alone is a usage error;
per-path ignores, severity overrides, select and ignore hold the same.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from ocrdoctor.core.config import Settings
from ocrdoctor.core.engine import UsageError
from ocrdoctor.core.findings import Problem, Severity, Skip
from ocrdoctor.core.plan import make_plan
from ocrdoctor.core.registry import TARGET_KINDS, Registry
from ocrdoctor.read.limits import DEFAULT
from ocrdoctor.render import render
from ocrdoctor.run import loop, targets
from ocrdoctor.run.targets import KINDS

DATA = Path(__file__).parent / "data" / "checkpoints"
DOC = "Stand-in.\n\nWhat it detects:\n    a\nWhy it matters:\n    b\nFix:\n    c\nExample:\n    d\n"
NUMBER = {kind: i for i, kind in enumerate(TARGET_KINDS, start=1)}


def fires(kind: str) -> str:
    return f"ZZ1{NUMBER[kind]:02d}"


def skips(kind: str) -> str:
    return f"ZZ2{NUMBER[kind]:02d}"


@pytest.fixture(scope="module")
def registry() -> Registry:
    """Per kind: ZZ1nn always fires, ZZ2nn always skips (and reads values, where a kind has them)."""
    reg = Registry()
    for kind in TARGET_KINDS:
        def fire(facts, kind=kind):
            yield Problem(f"stand-in finding on a {kind} target")

        def skip(facts, kind=kind):
            raise Skip(f"stand-in skip of a {kind} target")

        fire.__doc__ = skip.__doc__ = DOC
        reg.check(fires(kind), f"fires-{kind}", Severity.ERROR, kind, scope="file")(fire)
        reg.check(skips(kind), f"skips-{kind}", Severity.ERROR, kind, scope="file", values=kind == "checkpoint")(skip)
    reg._loaded = True  # no plugins: the stand-ins only
    return reg


# --- one real target of each kind -------------------------------------------------------------

@contextlib.contextmanager
def checkpoint_file():
    yield targets.CheckpointFile(DATA / "state_dict.pt")


@contextlib.contextmanager
def remote_checkpoint():
    pytest.importorskip("aiohttp")
    from ocrdoctor.read.remote import Url
    from tests.rangeserver import serving

    with serving(DATA) as (base, _):
        yield targets.RemoteCheckpoint(Url(f"{base}/state_dict.pt"))


@contextlib.contextmanager
def onnx_file(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    path = tmp_path / "relu.onnx"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    yield targets.OnnxFile(path)


@contextlib.contextmanager
def built_model(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("doctr")
    from ocrdoctor.checks import examples as ex
    from ocrdoctor.inspect.checkpoint import facts_of
    from ocrdoctor.read.checkpoint import read_checkpoint

    path = tmp_path / "reco.pt"
    torch.save(ex.doctr_state_dict("crnn_mobilenet_v3_small"), path)
    with read_checkpoint(path) as ckpt:
        yield targets.BuiltModel(ckpt, facts_of(ckpt, "crnn_mobilenet_v3_small"), "crnn_mobilenet_v3_small",
                                 f"{path} as crnn_mobilenet_v3_small")


@contextlib.contextmanager
def live_model():
    pytest.importorskip("torch")
    from ocrdoctor.checks import examples as ex

    yield targets.LiveModel(ex.tiny_net())


@contextlib.contextmanager
def onnxtr_predictor(monkeypatch):
    """OnnxTR's sessions as inspect/onnxtr.py reads them (a real predictor is in tests/test_onnxtr_live.py)."""
    from ocrdoctor.checks import examples as ex
    from ocrdoctor.inspect import onnxtr

    monkeypatch.setattr(onnxtr, "inspect_onnxtr", lambda obj, environment=None: ex.onnxtr_facts("sessions").make())
    yield targets.OnnxtrPredictor(object())


@contextlib.contextmanager
def machine():
    yield targets.Machine()


@contextlib.contextmanager
def compared_page():
    pytest.importorskip("rapidfuzz")  # the doctr extra's: compare's edit distances
    from ocrdoctor.checks import examples as ex

    yield targets.ComparedPage(ex.page_facts("page", "total 42 due", "total 42 due").make())


FACTORIES = {
    targets.CheckpointFile: ("checkpoint", lambda tmp_path, mp: checkpoint_file()),
    targets.RemoteCheckpoint: ("checkpoint", lambda tmp_path, mp: remote_checkpoint()),
    targets.OnnxFile: ("onnx", lambda tmp_path, mp: onnx_file(tmp_path)),
    targets.BuiltModel: ("model", lambda tmp_path, mp: built_model(tmp_path)),
    targets.LiveModel: ("model", lambda tmp_path, mp: live_model()),
    targets.OnnxtrPredictor: ("onnxtr", lambda tmp_path, mp: onnxtr_predictor(mp)),
    targets.Machine: ("environment", lambda tmp_path, mp: machine()),
    targets.ComparedPage: ("comparison", lambda tmp_path, mp: compared_page()),
}


def test_every_target_kind_is_here():
    assert set(FACTORIES) == set(KINDS)


@pytest.fixture(params=list(FACTORIES), ids=[k.__name__ for k in FACTORIES])
def target(request, tmp_path, monkeypatch):
    kind, make = FACTORIES[request.param]
    with make(tmp_path, monkeypatch) as made:
        assert made.kind == kind and isinstance(made, request.param)
        yield made


def plan(registry, **settings):
    return make_plan(Settings(**settings), TARGET_KINDS, registry, limits=DEFAULT)


def results(plan_, target_) -> list:
    return loop.check_one(plan_, target_)


# --- the guarantees -----------------------------------------------------------------------------

def test_a_rule_of_its_kind_fires(target, registry):
    [result] = results(plan(registry, select=(fires(target.kind),)), target)
    assert result.checked and [f.rule for f in result.findings] == [fires(target.kind)]
    assert result.seconds > 0


def test_no_rule_of_its_kind_is_not_checked_and_alone_a_usage_error(target, registry):
    other = next(k for k in TARGET_KINDS if k != target.kind)
    selected = plan(registry, select=(fires(other),))
    [result] = results(selected, target)
    assert result.status == "not_checked" and not result.findings
    assert result.reason.startswith(f"the selection (--select {fires(other)}) holds no rule for")
    text = render(selected.report([result]), "text")
    assert f"not checked: {result.reason}" in text and "no problems found" not in text
    data = json.loads(render(selected.report([result]), "json"))
    assert data["targets"][0]["status"] == "not_checked" and data["summary"]["not_checked"] == 1
    with pytest.raises(UsageError, match="nothing was checked"):
        loop.run(selected, [target])


def test_every_rule_skipped_is_not_checked(target, registry):
    skipping = plan(registry, select=(skips(target.kind),))
    [result] = results(skipping, target)
    assert result.status == "not_checked" and result.skipped and not result.findings
    assert result.reason == "; ".join(dict.fromkeys(s.reason for s in result.skipped))  # why each was skipped
    with pytest.raises(UsageError, match="nothing was checked"):
        loop.run(skipping, [target])


def test_per_path_ignores_hold(target, registry):
    code = fires(target.kind)
    [result] = results(plan(registry, select=(code,), per_path_ignores={"*": (code,)}), target)
    assert result.status == "not_checked" and not result.findings


def test_severity_overrides_hold(target, registry):
    code = fires(target.kind)
    [result] = results(plan(registry, select=(code,), severity={code: Severity.INFO}), target)
    assert [f.severity for f in result.findings] == [Severity.INFO]
    assert loop.run(plan(registry, select=(code,), severity={code: Severity.INFO}), [target]).exit_code() == 0


def test_ignore_holds(target, registry):
    kind = target.kind
    [result] = results(plan(registry, select=(fires(kind), skips(kind)), ignore=(fires(kind),)), target)
    assert result.status == "not_checked" and not result.findings


def test_values_none_skips_the_value_rules_of_files(registry):
    """The values policy: `values = "none"` skips a rule that reads values, for the files of any entry point."""
    with checkpoint_file() as target:
        [result] = results(plan(registry, select=(skips("checkpoint"),), values="none"), target)
    assert result.status == "not_checked" and "values were not read" in result.reason


# --- OD126: a judgement asked for that could not be made ----------------------------------------

def test_a_model_that_cannot_be_built_is_od126_whenever_the_selection_holds_a_model_rule():
    pytest.importorskip("doctr")
    from ocrdoctor.inspect.checkpoint import facts_of
    from ocrdoctor.read.checkpoint import read_checkpoint

    def built(**settings):
        planned = make_plan(Settings(**settings), ("checkpoint", "model"), limits=DEFAULT)
        with read_checkpoint(DATA / "state_dict.pt") as ckpt:
            model = targets.BuiltModel(ckpt, facts_of(ckpt), "crnn_mobilenet_v3_small", "state_dict.pt as crnn")
            return results(planned, model)[0]

    result = built()
    assert result.status == "not_built" and [f.rule for f in result.findings] == ["OD126"]
    assert "does not load into crnn_mobilenet_v3_small" in result.findings[0].message
    assert [f.rule for f in built(select=("OD2",)).findings] == ["OD126"]  # OD126 left out of the selection
    assert built(ignore=("OD126",)).findings == ()
    assert [f.severity for f in built(severity={"OD126": Severity.WARNING}).findings] == [Severity.WARNING]
    assert built(select=("OD103",)).findings == ()  # no model rule selected: nothing was asked of the model


def test_check_arch_on_a_model_it_cannot_build_is_exit_1(tmp_path):
    """`check --arch` on a recognizer with a custom vocab and none stored: OD126 (exit 0 before 0.5.0)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("doctr")
    from ocrdoctor.checks import examples as ex
    from tests.conftest import run

    path = tmp_path / "reco.pt"
    torch.save(ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"), path)
    result = run("check", path, "--arch", "crnn_mobilenet_v3_small", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    [od126] = [f for f in data["findings"] if f["rule"] == "OD126"]
    assert "see OD117" in od126["message"] and "<stem>.config.json" in od126["message"]
    assert [t["status"] for t in data["targets"]] == ["checked", "not_built"]
    gate = run("check", path, "--arch", "crnn_mobilenet_v3_small", "--ignore", "OD126")
    assert gate.exit_code == 0 and "not built: " in gate.stdout


# --- the entry points honour the same settings ---------------------------------------------------

def test_a_selection_without_checkpoint_rules_is_never_an_all_clear():
    """`check ckpt.pt --select OD4`: an error, never "no problems found" (it passed before 0.5.0)."""
    import ocrdoctor
    from tests.conftest import run

    result = run("check", DATA / "state_dict.pt", "--select", "OD4")
    assert result.exit_code == 2 and "(--select OD4) leaves no rule to run on files" in result.stderr
    with pytest.raises(UsageError, match="leaves no rule to run on files"):
        ocrdoctor.check_paths([DATA / "state_dict.pt"], select="OD4")
    skipped = run("check", DATA / "state_dict.pt", "--select", "OD109", "--values", "none")
    assert skipped.exit_code == 2 and "nothing was checked" in skipped.stderr
    assert "values were not read" in skipped.stderr
    with pytest.raises(UsageError, match="nothing was checked"):
        ocrdoctor.check_paths([DATA / "state_dict.pt"], select="OD109", values="none")


def test_config_is_read_by_every_python_entry_point_as_by_the_cli(tmp_path):
    """`config=PATH` is `--config PATH`; without it no config file is read (even one in the working folder)."""
    import ocrdoctor
    from tests.conftest import run

    config = tmp_path / "gate.toml"
    config.write_text('[tool.ocrdoctor]\nignore = ["OD112"]\n[tool.ocrdoctor.per-path-ignores]\n'
                      '"*legacy*" = ["OD111"]\n[tool.ocrdoctor.severity]\nOD120 = "error"\n')
    files = [DATA / "legacy.pt", DATA / "harmless_extras.pt"]

    def seen(report) -> set:
        return {(Path(f.target).name, f.rule, f.severity.value) for f in report.findings}

    cli = run("check", *files, "--config", config, "--format", "json")
    from_cli = {(Path(f["target"]).name, f["rule"], f["severity"]) for f in json.loads(cli.stdout)["findings"]}
    assert seen(ocrdoctor.check_paths(files, config=config)) == from_cli
    assert ("legacy.pt", "OD111", "info") not in from_cli and not any(r == "OD112" for _, r, _ in from_cli)
    assert ("harmless_extras.pt", "OD120", "error") in from_cli
    plain = seen(ocrdoctor.check_paths(files))
    assert ("legacy.pt", "OD111", "info") in plain  # no config named: none read
    env = ocrdoctor.check_environment(config=config, facts=None)
    assert env.fail_on is Severity.ERROR and all(f.rule.startswith("OD3") for f in env.findings)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        ocrdoctor.check_deployment(reco=DATA / "state_dict.pt", reco_arch="crnn_mobilenet_v3_small", slect="OD1")


def test_check_deployment_is_exported():
    import ocrdoctor

    assert callable(ocrdoctor.check_deployment) and "check_deployment" in dir(ocrdoctor)


def test_a_kind_that_cannot_gather_is_not_checked_with_its_reason(registry):
    """A remote ONNX export is not read (onnx reads a graph whole): its rules skipped, not checked."""
    from ocrdoctor.read.remote import Url

    target = targets.OnnxFile(Url("https://example.invalid/model.onnx"))
    [result] = results(plan(registry, select=(fires("onnx"),)), target)
    assert result.status == "not_checked" and "download it" in result.reason
    assert [s.rule for s in result.skipped] == [fires("onnx")]


def test_a_result_is_timed_once_from_gathering_to_its_last_rule(registry, monkeypatch):
    import time

    slow = targets.Machine(facts=None)
    real = slow.gather

    @contextlib.contextmanager
    def gather(plan_):
        time.sleep(0.05)
        with real(plan_) as facts:
            yield facts

    monkeypatch.setattr(slow, "gather", gather)
    [result] = results(plan(registry, select=(fires("environment"),)), slow)
    assert result.seconds >= 0.05
    assert replace(result, seconds=0).seconds == 0
