"""Every registered rule fires on each of its bad examples and stays silent on its good ones."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files

from ocrdoctor.api import check_file
from ocrdoctor.checks.examples import FactsExample
from ocrdoctor.core.engine import NotJudged, run_rules
from ocrdoctor.core.registry import default

RULES = default.load().sorted_rules()
NOUNS = ("tensor", "value", "key", "layer", "module", "file", "problem", "error", "warning", "word", "page",
         "shard", "class", "classe", "model", "character", "name", "bias", "biase", "storage", "step", "crop",
         "global", "entry", "output", "input", "node", "thread", "CPU", "GPU", "device", "dtype")


def disagreements(message: str) -> list[str]:
    """Counts that disagree with their noun: '1 tensors', '2 tensor' (a sweep over every rule's messages)."""
    import re

    found = []
    pattern = r"(?<![\w.,/-])(\d[\d,]*) (?:NaN/Inf |more |of the \d+ )?([A-Za-z]+?)(s?)\b(?: ([A-Za-z]+?)(s?)\b)?"
    for number, noun, plural, second, second_plural in re.findall(pattern, message):
        if second in NOUNS:  # a compound: "19 layer biases" agrees by its last noun
            noun, plural = second, second_plural
        n = int(number.replace(",", ""))
        if noun in NOUNS and (n == 1) == bool(plural):
            found.append(f"{number} {noun}{plural}")
    return found


@pytest.mark.parametrize(("message", "wrong"), [
    ("1 NaN/Inf values in 1 tensors", ["1 value" + "s", "1 tensor" + "s"]),
    ("3 NaN/Inf value in 2 tensors", ["3 value"]),
    ("1 NaN/Inf value in 1 tensor: linear.weight (3)", []),
    ("all 258 keys start with 'module.'", []),
    ("18 of 19 layer biases still 0", []),
    ("1 of 1 layer biases still 0", ["1 biase" + "s"]),
])
def test_the_agreement_sweep_catches_what_it_should(message, wrong):
    assert disagreements(message) == wrong
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
        facts = example.make()
        if isinstance(facts, NotJudged):  # a target that was not built: the run gives it OD126 alone
            same_kind = [rule]
        return run_rules(same_kind, facts, target=example.label, kind=rule.target)
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
        assert [disagreements(f.message) for f in fired] == [[] for _ in fired]  # "1 tensor", "2 tensors"
    else:
        assert not fired, f"{rule.code} fired on good example {example.label}: {fired}"
