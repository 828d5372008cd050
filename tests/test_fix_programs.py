"""Every fix ocrdoctor prints runs as pasted: each checkpoint rule's program, run against each of the
rule's bad examples (with `path` set), loads the file, and its output loads strictly and no
longer has the finding. Advice-only fixes (no applicability) are prose and are not run."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.api import check_path  # noqa: E402
from ocrdoctor.checks.examples import Example  # noqa: E402
from ocrdoctor.core.registry import default  # noqa: E402
from ocrdoctor.inspect.checkpoint import inspect_checkpoint  # noqa: E402
from ocrdoctor.treat.build import empty_model  # noqa: E402

CASES = [(rule, example) for rule in default.load().sorted_rules("checkpoint") for example in rule.bad
         if isinstance(example, Example)]


def _programs(rule, example, tmp_path):
    path = tmp_path / f"bad{example.suffix}"
    example.write(path)
    findings = [f for f in check_path(path, arch=example.arch).findings if f.rule == rule.code]
    return path, [f for f in findings if f.applicability is not None]


@pytest.mark.parametrize(("rule", "example"), CASES, ids=[f"{r.code}-{e.label}" for r, e in CASES])
def test_printed_program_runs_and_the_finding_goes(rule, example, tmp_path, monkeypatch):
    path, fixes = _programs(rule, example, tmp_path)
    if not fixes:
        pytest.skip(f"{rule.code} gives advice only (no applicability) on {example.label}")
    work = tmp_path / "run"
    work.mkdir()
    monkeypatch.chdir(work)
    for finding in fixes:
        assert finding.fix.splitlines()[0] == f"path = {str(path)!r}"  # runs as pasted: it names its file
        namespace: dict = {}
        exec(compile(finding.fix, f"<{rule.code} fix>", "exec"), namespace)
        if "model" in namespace:  # the fix builds the docTR model and loads the weights strictly
            assert isinstance(namespace["model"], torch.nn.Module)
            continue
        output = work / "weights.pt"
        if not output.exists() and rule.code == "OD120":  # the fix is the weights-only load itself
            assert isinstance(namespace["ckpt"], dict)
            continue
        assert output.exists(), finding.fix
        torch.load(output, weights_only=True)  # a deployment's default load
        after = check_path(output)
        assert rule.code not in {f.rule for f in after.findings}, after.findings
        facts = inspect_checkpoint(output)
        match = facts.architecture
        if match is not None and match.identified:
            model = empty_model(match.arch, match, reparameterized=match.form == "reparameterized")
            model.load_state_dict(torch.load(output, weights_only=True), strict=True)
        os.remove(output)


def test_every_rule_with_a_program_has_a_bad_example_that_runs_it():
    """The parametrized test above must run a program for each rule that prints one."""
    coded = {r.code for r in default.load().sorted_rules("checkpoint") if r.applicability is not None}
    assert coded >= {"OD103", "OD104", "OD105", "OD106", "OD107", "OD108", "OD111", "OD114", "OD115", "OD119", "OD120"}
