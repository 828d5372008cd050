"""Every registered rule fires on each of its bad examples and stays silent on its good ones."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files

from ocrdoctor.api import check_file
from ocrdoctor.checks.examples import FactsExample
from ocrdoctor.core.engine import run_rules
from ocrdoctor.core.registry import default

RULES = default.load().sorted_rules()
CASES = [(rule, example, kind) for rule in RULES for kind in ("bad", "good") for example in getattr(rule, kind)]


def test_every_rule_has_good_and_bad_examples():
    for rule in RULES:
        assert rule.bad, f"{rule.code} has no bad example"
        assert rule.good, f"{rule.code} has no good example"


def _outcome(rule, example, tmp_path):
    """Run every rule of the example's target kind, as a real run would."""
    same_kind = [r for r in RULES if r.target == rule.target]
    if isinstance(example, FactsExample) and not example.applies():
        pytest.skip(f"{example.label} needs a newer docTR than the installed one")
    if isinstance(example, FactsExample):
        return run_rules(same_kind, example.make(), target=example.label, kind=rule.target)
    path = tmp_path / f"example{example.suffix}"
    example.write(path)
    return check_file(path, same_kind, example.arch)


@pytest.mark.parametrize(("rule", "example", "kind"), CASES, ids=[f"{r.code}-{k}-{e.label}" for r, e, k in CASES])
def test_rule_example(rule, example, kind, tmp_path):
    result = _outcome(rule, example, tmp_path)
    assert not result.errors, result.errors
    fired = [f for f in result.findings if f.rule == rule.code]
    if kind == "bad":
        assert fired, f"{rule.code} did not fire on {example.label}: {result.findings} skipped={result.skipped}"
        assert all(f.name == rule.name and f.severity == rule.severity for f in fired)
        assert all(f.message and f.target == result.target for f in fired)
    else:
        assert not fired, f"{rule.code} fired on good example {example.label}: {fired}"
