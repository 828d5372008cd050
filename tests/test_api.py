"""The Python API and the CLI keep their promises: one path or many,
options that behave as on the CLI, unknown keywords refused, no silent all-clear, consistent outputs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

import ocrdoctor
from ocrdoctor.core.engine import UsageError
from tests import torchfile as tf
from tests.conftest import run


@pytest.fixture
def wrapped(tmp_path):
    """A training-style file: weights under "model" with a `module.` prefix, an epoch and an optimizer-sized entry."""
    weights = {f"module.{k}": v for k, v in tf.trained({"conv.weight": (4, 3, 3, 3), "conv.bias": (4,)}).items()}
    return tf.save_zip(tmp_path / "train.pt", {"model": weights, "optimizer": tf.trained({"m": (64, 64)}), "epoch": 3})


def test_one_path_is_one_path(wrapped):
    """A string is a path, not an iterable of one-letter paths."""
    report = ocrdoctor.check_paths(str(wrapped))
    assert [t.target for t in report.targets] == [str(wrapped)]
    assert ocrdoctor.check_paths(wrapped).summary == ocrdoctor.check_paths([wrapped]).summary


def test_fail_on_is_the_reports_own_threshold(wrapped):
    warnings = ocrdoctor.check_paths(wrapped, fail_on="warning")
    assert warnings.summary["warning"] >= 2 and warnings.summary["error"] == 0
    assert warnings.exit_code() == 1  # as `ocrdoctor check --fail-on warning` exits
    assert ocrdoctor.check_paths(wrapped).exit_code() == 0
    assert warnings.exit_code("error") == 0


def test_select_and_ignore_take_what_the_cli_takes(wrapped):
    one = ocrdoctor.check_paths(wrapped, select="OD105")
    assert {f.rule for f in one.findings} == {"OD105"}
    two = ocrdoctor.check_paths(wrapped, select=["od104", "OD105 "])
    assert {f.rule for f in two.findings} == {"OD104", "OD105"}
    assert "OD105" not in {f.rule for f in ocrdoctor.check_paths(wrapped, ignore="OD105,OD104").findings}


def test_unknown_keywords_are_type_errors(wrapped):
    with pytest.raises(TypeError, match="unexpected keyword argument 'failon'"):
        ocrdoctor.check_paths(wrapped, failon="warning")
    with pytest.raises(TypeError, match="check_environment"):
        ocrdoctor.check_environment(slect="OD3")
    with pytest.raises(UsageError, match="fail_on must be one of"):
        ocrdoctor.check_paths(wrapped, fail_on="warnings")


def test_a_selection_that_runs_no_rule_is_a_usage_error(tmp_path, wrapped):
    """`--select OD3` on files would run no rule and pass a text file named model.pt: a failed run instead."""
    text = tmp_path / "model.pt"
    text.write_text("epoch,loss\n1,0.5\n")
    result = run("check", text, "--select", "OD3")
    assert result.exit_code == 2 and "leaves no rule to run on files" in result.stderr
    with pytest.raises(UsageError, match="leaves no rule"):
        ocrdoctor.check_paths(wrapped, select="OD3")
    with pytest.raises(UsageError, match="no environment rule"):
        ocrdoctor.check_environment(select="OD1")


def test_report_repr_is_the_text_report(wrapped):
    report = ocrdoctor.check_paths(wrapped)
    assert repr(report) == str(report) and "OD105" in repr(report) and "TargetResult(" not in repr(report)


def test_od105_names_every_wrapper_it_strips(tmp_path):
    weights = {f"module._orig_mod.{k}": v for k, v in tf.trained({"conv.weight": (4, 3, 3, 3)}).items()}
    path = tf.save_zip(tmp_path / "both.pt", weights)
    [od105] = [f for f in ocrdoctor.check_path(path).findings if f.rule == "OD105"]
    assert "DataParallel" in od105.message and "torch.compile" in od105.message
    assert od105.location == "module._orig_mod."


def test_small_metadata_beside_the_weights_is_not_training_state(tmp_path, wrapped):
    small = tf.save_zip(tmp_path / "small.pt", {"model": tf.trained({"w": (4, 4)}), "epoch": 3})
    assert "OD103" not in {f.rule for f in ocrdoctor.check_path(small).findings}
    assert "OD103" in {f.rule for f in ocrdoctor.check_path(wrapped).findings}  # the optimizer-sized entry


@pytest.mark.parametrize(("value", "colour"), [("", True), ("1", False), (None, True)])
def test_no_color_follows_no_color_org(value, colour, monkeypatch):
    """Only a non-empty NO_COLOR turns colour off (no-color.org)."""
    from ocrdoctor.cli import common

    if value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", value)
    monkeypatch.setattr(common, "is_terminal", lambda stream=None: True)
    assert common.use_color() is colour


def test_fix_writes_every_format_with_the_same_mode_and_refuses_conflicting_flags(tmp_path):
    pytest.importorskip("torch")
    from ocrdoctor.checks import examples as ex

    source = tmp_path / "in.pt"
    __import__("torch").save({"model": ex.tiny_state_dict()}, source)
    modes = []
    for name, flags in (("a.pt", ()), ("b.safetensors", ("--safetensors",))):
        result = run("fix", source, "-o", tmp_path / name, *flags)
        assert result.exit_code == 0, result.stderr
        modes.append(stat.S_IMODE(os.stat(tmp_path / name).st_mode))
    mask = os.umask(0o022)
    os.umask(mask)
    assert modes == [0o666 & ~mask] * 2
    result = run("fix", source, "-o", tmp_path / "c.pt", "--half", "--dtype", "bfloat16")
    assert result.exit_code == 2 and "conflicts with --dtype bfloat16" in result.stderr
    assert not (tmp_path / "c.pt").exists()


def test_the_cli_exits_as_the_api_reports(wrapped):
    proc = subprocess.run([sys.executable, "-m", "ocrdoctor", "check", str(wrapped), "--fail-on", "warning"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == ocrdoctor.check_paths(wrapped, fail_on="warning").exit_code() == 1


def test_a_second_weight_set_is_named_with_the_key_that_checks_it(tmp_path):
    weights = tf.trained({"conv.weight": (4, 3, 3, 3), "conv.bias": (4,)})
    path = tf.save_zip(tmp_path / "ema.pt", {"model": weights, "model_ema": tf.trained(dict.fromkeys(weights, (4,)),
                                                                                       1)})
    report = ocrdoctor.check_path(path)
    assert report.targets[0].summary["other_weights"] == "model_ema"
    assert "also holds a second weight set: model_ema (check it with --key model_ema)" in str(report)
    assert ocrdoctor.check_path(path, key="model_ema").targets[0].summary.get("weights_key") == "model_ema"
