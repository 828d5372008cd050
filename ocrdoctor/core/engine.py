"""Selects the enabled rules and runs them over the facts of one target: every rule ends as a
finding, a skip or an error."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .findings import (
    CHECKED,
    NOT_BUILT,
    NOT_CHECKED,
    UNREADABLE,
    CheckError,
    Finding,
    Problem,
    Skip,
    Skipped,
    TargetResult,
)
from .registry import Rule, one_line

VALUES_NOT_READ = "tensor values were not read (--values none; a remote check's default): rerun with --values all"


class UsageError(Exception):
    """The run itself cannot start (missing path, unknown rule or architecture): exit 2."""


def run_rules(
    rules: Iterable[Rule],
    facts: object,
    *,
    target: str,
    kind: str,
    summary: Mapping[str, object] | None = None,
    member: str | None = None,
) -> TargetResult:
    """Apply each rule to `facts`; one crashing rule never hides the others' findings."""
    start = time.perf_counter()
    rules = list(rules)
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    errors: list[CheckError] = []
    values = getattr(facts, "values", True)
    looked = 0  # rules that ran to their end: a target none looked at is not checked
    for rule in rules:
        if rule.values and not values:
            skipped.append(Skipped(rule.code, rule.name, target, VALUES_NOT_READ, member))
            continue
        try:
            new = [_finding(rule, p, target, member) for p in rule.func(facts) or ()]
        except Skip as skip:
            skipped.append(Skipped(rule.code, rule.name, target, skip.reason, member))
            continue
        except Exception as exc:
            errors.append(CheckError(rule.code, rule.name, target, (f"{member}: " if member else "") + one_line(exc)))
            continue
        findings.extend(new)
        looked += 1
    return TargetResult(
        target=target,
        kind=kind,
        summary=dict(summary or {}),
        findings=tuple(findings),
        skipped=tuple(skipped),
        errors=tuple(errors),
        seconds=time.perf_counter() - start,
        rules=tuple((r.code, r.name) for r in rules),
        status=CHECKED if looked else NOT_CHECKED,
        reason=None if looked else _unlooked(kind, rules, skipped, errors),
    )


def _unlooked(kind: str, rules: list[Rule], skipped: list[Skipped], errors: list[CheckError]) -> str:
    """Why no rule looked at a target: none applies, each was skipped (their reasons), or each failed."""
    if not rules:
        return f"no selected rule applies to {KIND_WORDS.get(kind, kind + ' targets')}"
    if skipped and not errors:
        return "; ".join(dict.fromkeys(s.reason for s in skipped))
    return "every rule that applies failed (see the check errors)"


KIND_WORDS = {"checkpoint": "checkpoint files", "onnx": "ONNX files", "model": "models", "environment": "the machine",
              "onnxtr": "OnnxTR predictors", "comparison": "compared pages"}


def merge_results(results: list[TargetResult], summary: Mapping[str, object]) -> TargetResult:
    """Several runs over one target (its file rules, then each model's) as one result."""
    first = results[0]
    rules = tuple(dict.fromkeys(r for result in results for r in result.rules))
    looked = any(r.checked for r in results)
    unlooked = [r for r in results if r.rules] or results
    return TargetResult(
        target=first.target, kind=first.kind, summary=dict(summary),
        findings=tuple(f for r in results for f in r.findings),
        skipped=tuple(s for r in results for s in r.skipped),
        errors=tuple(e for r in results for e in r.errors),
        seconds=sum(r.seconds for r in results), rules=rules,
        status=CHECKED if looked else NOT_CHECKED,
        reason=None if looked else "; ".join(dict.fromkeys(r.reason for r in unlooked if r.reason)),
    )


def _finding(rule: Rule, problem: Problem, target: str, member: str | None = None) -> Finding:
    if not isinstance(problem, Problem):
        raise TypeError(f"{rule.code} yielded {type(problem).__name__}, not Problem")
    fix = problem.fix if problem.fix is not None else rule.fix
    applicability = None if problem.advice else problem.applicability or (rule.applicability if fix else None)
    return Finding(
        rule=rule.code,
        name=rule.name,
        severity=rule.severity,
        target=target,
        message=problem.message,
        location=problem.location,
        fix=fix,
        applicability=applicability,
        member=member,
        command=problem.command,
    )


def run_checkpoint_rules(rules: list[Rule], facts: Any, target: str) -> TargetResult:
    """File rules once, model rules once per model the file holds (findings name the model: `member`)."""
    parts = [run_rules([r for r in rules if r.scope == "file"], facts, target=target, kind="checkpoint")]
    for model in facts.models:
        parts.append(run_rules([r for r in rules if r.scope != "file"], model, target=target, kind="checkpoint",
                               member=model.member))
    return merge_results(parts, facts.summary())


def unreadable(url, exc) -> TargetResult:
    """A remote target the network did not deliver (read.remote.RemoteError): listed under `errors` with its
    status, and exit 2."""
    facts = {"unreadable": str(exc), **({"status": exc.status} if exc.status else {})}
    return TargetResult(str(url), "checkpoint", facts, errors=(CheckError("read", "unreadable", str(url), str(exc)),),
                        rules=(("read", "unreadable"),), unreadable=str(exc), status=UNREADABLE, reason=str(exc))


def not_read(target: str, kind: str, reason: str, rules: list[Rule]) -> TargetResult:
    """A target whose facts could not be gathered here: each rule skipped with the reason; not checked."""
    skipped = tuple(Skipped(r.code, r.name, target, reason) for r in rules)
    return TargetResult(target, kind, {"not_read": reason}, skipped=skipped, rules=tuple((r.code,
                                                                                          r.name) for r in rules),
                        status=NOT_CHECKED, reason=reason)


def not_built(target: str, kind: str, reason: str, rules: list[Rule]) -> TargetResult:
    """A model the user asked to be judged that could not be built: each rule skipped with the reason."""
    skipped = tuple(Skipped(r.code, r.name, target, reason) for r in rules)
    return TargetResult(target, kind, {"not_built": reason}, skipped=skipped,
                        rules=tuple((r.code, r.name) for r in rules), status=NOT_BUILT, reason=reason)


@dataclass(frozen=True)
class NotJudged:
    """The facts of a target that could not be built for its rules (OD126 reads them): why, and the way out."""

    target: str
    reason: str
    hint: str | None = None

    def summary(self) -> dict:
        return {"not_built": self.reason}


def judged_not(result: TargetResult, rule: Rule, reason: str, hint: str | None = None) -> TargetResult:
    """`result` with OD126's findings: the judgement asked for could not be made, why, and the way out."""
    judged = run_rules([rule], NotJudged(result.target, reason, hint), target=result.target, kind=result.kind)
    return replace(result, findings=(*result.findings, *judged.findings), errors=(*result.errors, *judged.errors),
                   rules=tuple(dict.fromkeys((*result.rules, *judged.rules))))
