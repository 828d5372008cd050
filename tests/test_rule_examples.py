"""Every registered rule fires on each of its bad examples and stays silent on its good ones."""

from __future__ import annotations

import pytest

from ocrdoctor.api import check_file
from ocrdoctor.registry import default

RULES = default.load().sorted_rules("checkpoint")
CASES = [(rule, example, kind) for rule in RULES for kind in ("bad", "good") for example in getattr(rule, kind)]


def test_every_rule_has_good_and_bad_examples():
    for rule in RULES:
        assert rule.bad, f"{rule.code} has no bad example"
        assert rule.good, f"{rule.code} has no good example"


@pytest.mark.parametrize(("rule", "example", "kind"), CASES, ids=[f"{r.code}-{k}-{e.label}" for r, e, k in CASES])
def test_rule_example(rule, example, kind, tmp_path):
    path = tmp_path / f"example{example.suffix}"
    example.write(path)
    result = check_file(path, RULES, example.arch)
    assert not result.errors, result.errors
    fired = [f for f in result.findings if f.rule == rule.code]
    if kind == "bad":
        assert fired, f"{rule.code} did not fire on {example.label}: {result.findings} skipped={result.skipped}"
        assert all(f.name == rule.name and f.severity == rule.severity for f in fired)
        assert all(f.message and f.target == str(path) for f in fired)
    else:
        assert not fired, f"{rule.code} fired on good example {example.label}: {fired}"
