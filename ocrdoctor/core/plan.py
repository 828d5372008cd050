"""The plan of a run: what was decided once, from the settings, before any target is looked at.

The rules of each target kind are selected once (severity overrides applied, bad codes a usage
error), and the other settings every kind must honour travel with them: per-path ignores, the
values policy, the reader's limits, the timeout, the plugins that failed to load. Every command
and every Python function runs a plan, so a setting holds the same for every kind of target.
Treatments (`treat/compare`, `treat/export`) are handed a plan; they judge facts with
`plan.judge` and gather results with `plan.report`, and never select rules themselves.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import Settings
from .engine import KIND_WORDS, UsageError, judged_not, not_built, run_checkpoint_rules, run_rules
from .findings import CheckError, Report, TargetResult
from .registry import Registry, RegistryError, Rule, default, is_enabled

NOT_JUDGED = "OD126"  # raised on a target the user asked to be judged that could not be (checks/judged.py)


@dataclass(frozen=True)
class Plan:
    """The rules per target kind, selected once, and the settings every target is held to."""

    settings: Settings = field(default_factory=Settings)
    rules: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    plugin_errors: tuple[CheckError, ...] = ()
    limits: Any = None  # the reader's Limits (read/limits.py): the run room resolves them from the settings
    not_judged: Rule | None = None  # OD126 with its severity; None when the settings turn it off
    # the run room's loop over facts already gathered (kind, facts) -> Report, so a treatment that gathers its
    # own (compare's pages) is judged by the same loop without importing it; plain judging when absent
    checker: Callable[[Plan, str, Sequence[Any]], Report] | None = field(default=None, compare=False, repr=False)

    @property
    def fail_on(self):
        return self.settings.fail_on

    @property
    def timeout(self) -> float | None:
        return self.settings.timeout

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.rules)

    def rules_for(self, kind: str, name: str | None = None) -> list[Rule]:
        """The selected rules of `kind`, less those a per-path glob turns off for the target `name`."""
        rules = list(self.rules.get(kind, ()))
        if name is None or not self.settings.per_path_ignores:
            return rules
        return [r for r in rules if not path_ignores(name, r.code, self.settings)]

    def values_for(self, remote: bool) -> bool:
        """Whether tensor values are read: `values` in the settings, else all locally and none remotely."""
        if self.settings.values is None:
            return not remote
        return self.settings.values == "all"

    def judge(self, kind: str, facts: Any, target: str, summary: Mapping[str, object] | None = None) -> TargetResult:
        """The rules of `kind` (less the target's per-path ignores) over one target's facts."""
        rules = self.rules_for(kind, target)
        if kind == "checkpoint":
            result = run_checkpoint_rules(rules, facts, target)
        else:
            result = run_rules(rules, facts, target=target, kind=kind,
                               summary=facts.summary() if summary is None and hasattr(facts, "summary") else summary)
        if not rules:
            result = replace(result, reason=self.no_rule(kind))
        return result

    def no_rule(self, kind: str) -> str:
        """Why a target of `kind` is not checked when the selection holds none of its rules."""
        return f"the selection ({selection(self.settings)}) holds no rule for {KIND_WORDS.get(kind, kind)}"

    def unbuilt(self, target: str, kind: str, reason: str, hint: str | None = None) -> TargetResult:
        """A target the user asked to be judged that could not be built: its rules skipped with the reason, and
        OD126 whenever the selection holds a rule of its kind (never an all-clear)."""
        rules = self.rules_for(kind, target)
        result = not_built(target, kind, reason, rules)
        rule = self.not_judged
        if not rules or rule is None or path_ignores(target, rule.code, self.settings):
            return result
        return judged_not(result, rule, reason, hint)

    def check_gathered(self, kind: str, facts: Sequence[Any]) -> Report:
        """Facts a treatment gathered (one per target: compare's pages) through the run's loop."""
        if self.checker is not None:
            return self.checker(self, kind, facts)
        return self.report(self.judge(kind, f, f.name) for f in facts)

    def report(self, targets: Iterable[TargetResult], skipped: Sequence = ()) -> Report:
        """The run's Report: its targets, the plugins that failed, the files passed over."""
        return Report(tuple(targets), errors=self.plugin_errors, skipped=tuple(skipped), fail_on=self.fail_on)


def make_plan(settings: Settings, kinds: Iterable[str], registry: Registry | None = None, limits: Any = None,
              checker: Callable | None = None) -> Plan:
    """Select the rules of each kind once; a bad code anywhere in the settings is a usage error. Settings that
    name codes load every rule, so each code is validated; otherwise only those kinds' rules load."""
    kinds = tuple(dict.fromkeys(kinds))
    names_codes = settings.select or settings.ignore or settings.severity or settings.per_path_ignores
    reg = (registry or default).load(None if names_codes else kinds)
    try:
        reg.validate_prefixes([*settings.select, *settings.ignore, *settings.severity,
                               *(c for codes in settings.per_path_ignores.values() for c in codes)])
        selected = {kind: tuple(_severe(r, settings) for r in reg.select(settings.select, settings.ignore, kind))
                    for kind in kinds}
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    rule = reg.rules.get(NOT_JUDGED)
    judged = _severe(rule, settings) if rule is not None and is_enabled(NOT_JUDGED, [], list(settings.ignore)) \
        else None
    return Plan(settings, selected, tuple(reg.plugin_errors), limits, judged, checker)


def _severe(rule: Rule, settings: Settings) -> Rule:
    """The rule at the severity the settings give it."""
    return replace(rule, severity=settings.severity[rule.code]) if rule.code in settings.severity else rule


def selection(settings: Settings) -> str:
    """The rule selection in the CLI's words, for a message: '--select OD4 --ignore OD401'."""
    parts = [f"--select {','.join(settings.select)}"] if settings.select else []
    parts += [f"--ignore {','.join(settings.ignore)}"] if settings.ignore else []
    return " ".join(parts) or "the rules installed"


def path_ignores(name: str, code: str, settings: Settings) -> bool:
    """Whether a per-path-ignores glob (relative to the config file's folder) turns `code` off for `name`."""
    if not settings.per_path_ignores:
        return False
    texts = {Path(name).as_posix() if "://" not in name else name}
    if "://" not in name:
        rel = Path(name).resolve()
        if settings.root is not None and rel.is_relative_to(settings.root):
            rel = rel.relative_to(settings.root)
        texts.add(rel.as_posix())
    return any(
        any(matches(text, glob) for text in texts) and not is_enabled(code, [], list(codes))
        for glob, codes in settings.per_path_ignores.items()
    )


def matches(rel: str, pattern: str) -> bool:
    """A glob against a path relative to the folder given, or against its name alone."""
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)
