"""Runs rules over the facts of one target: every rule ends as a finding, a skip or an error."""

from __future__ import annotations

import time
from typing import Iterable, Mapping

from .findings import CheckError, Finding, Problem, Skip, Skipped, TargetResult
from .registry import Rule, one_line


def run_rules(
    rules: Iterable[Rule],
    facts: object,
    *,
    target: str,
    kind: str,
    summary: Mapping[str, object] | None = None,
) -> TargetResult:
    """Apply each rule to `facts`; one crashing rule never hides the others' findings."""
    start = time.perf_counter()
    rules = list(rules)
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    errors: list[CheckError] = []
    for rule in rules:
        try:
            new = [_finding(rule, p, target) for p in rule.func(facts) or ()]
        except Skip as skip:
            skipped.append(Skipped(rule.code, rule.name, target, skip.reason))
            continue
        except Exception as exc:
            errors.append(CheckError(rule.code, rule.name, target, one_line(exc)))
            continue
        findings.extend(new)
    return TargetResult(
        target=target,
        kind=kind,
        summary=dict(summary or {}),
        findings=tuple(findings),
        skipped=tuple(skipped),
        errors=tuple(errors),
        seconds=time.perf_counter() - start,
        rules=tuple((r.code, r.name) for r in rules),
    )


def _finding(rule: Rule, problem: Problem, target: str) -> Finding:
    if not isinstance(problem, Problem):
        raise TypeError(f"{rule.code} yielded {type(problem).__name__}, not Problem")
    fix = problem.fix if problem.fix is not None else rule.fix
    applicability = problem.applicability or (rule.applicability if fix else None)
    return Finding(
        rule=rule.code,
        name=rule.name,
        severity=rule.severity,
        target=target,
        message=problem.message,
        location=problem.location,
        fix=fix,
        applicability=applicability,
    )
