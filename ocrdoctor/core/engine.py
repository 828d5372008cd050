"""Selects the enabled rules and runs them over the facts of one target: every rule ends as a
finding, a skip or an error."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Iterable, Mapping

from .config import Settings
from .findings import CheckError, Finding, Problem, Skip, Skipped, TargetResult
from .registry import Registry, RegistryError, Rule, default, one_line


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


def merge_results(results: list[TargetResult], summary: Mapping[str, object]) -> TargetResult:
    """Several runs over one target (its file rules, then each model's) as one result."""
    first = results[0]
    rules = tuple(dict.fromkeys(r for result in results for r in result.rules))
    return TargetResult(
        target=first.target, kind=first.kind, summary=dict(summary),
        findings=tuple(f for r in results for f in r.findings),
        skipped=tuple(s for r in results for s in r.skipped),
        errors=tuple(e for r in results for e in r.errors),
        seconds=sum(r.seconds for r in results), rules=rules,
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


def select_rules(settings: Settings, target: str = "checkpoint", registry: Registry | None = None) -> tuple[Registry, list[Rule]]:
    """The enabled rules, with per-rule severity overrides applied; bad codes are usage errors. Settings that
    name codes load every rule, so each code is validated; otherwise only the target kind's rules load."""
    names_codes = settings.select or settings.ignore or settings.severity or settings.per_path_ignores
    reg = (registry or default).load(None if names_codes else [target])
    try:
        rules = reg.select(settings.select, settings.ignore, target=target)
        reg.validate_prefixes([*settings.severity, *(c for codes in settings.per_path_ignores.values() for c in codes)])
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    return reg, [replace(r, severity=settings.severity[r.code]) if r.code in settings.severity else r for r in rules]


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
                        rules=(("read", "unreadable"),), unreadable=str(exc))


def not_read(target: str, kind: str, reason: str, rules: list[Rule], key: str = "not_read") -> TargetResult:
    """A target whose rules could not run here: each skipped with the reason, and no "no problems found"."""
    skipped = tuple(Skipped(r.code, r.name, target, reason) for r in rules)
    return TargetResult(target, kind, {key: reason}, skipped=skipped, rules=tuple((r.code, r.name) for r in rules))
