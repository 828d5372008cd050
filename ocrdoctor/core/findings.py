"""What a run produces: findings, skips and check errors, gathered per target into a Report.

Everything here is immutable so a renderer can never change what a check said.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .units import count
from .views import view


class Severity(enum.Enum):
    """How bad a finding is; ordered so `--fail-on` can compare them."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: Severity) -> bool:
        return self.rank >= other.rank

    def __gt__(self, other: Severity) -> bool:
        return self.rank > other.rank

    def __le__(self, other: Severity) -> bool:
        return self.rank <= other.rank

    def __lt__(self, other: Severity) -> bool:
        return self.rank < other.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Applicability(enum.Enum):
    """Whether applying a fix can change results (ruff's safe / unsafe fixes), or may not fit the model at all."""

    SAFE = "safe"
    CHANGES_NUMERICS = "changes-numerics"
    REVIEW = "review"  # may not fit this model's own loader (a model ocrdoctor does not know): review it first


@dataclass(frozen=True)
class Problem:
    """What a check knows about one problem; the engine adds the rule and the target."""

    message: str
    location: str | None = None
    fix: str | None = None
    applicability: Applicability | None = None
    command: str | None = None  # an ocrdoctor command that repairs it ("ocrdoctor fix det.pt -o det-clean.pt")
    advice: bool = False  # the fix is prose here (no program fits the installed versions): no applicability


class Skip(Exception):
    """Raised by a check that cannot judge this target; the reason is shown to the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Finding:
    rule: str
    name: str
    severity: Severity
    target: str
    message: str
    location: str | None = None
    fix: str | None = None
    applicability: Applicability | None = None
    member: str | None = None  # the model inside a file holding several ("model.reco"); target stays the file
    command: str | None = None  # an ocrdoctor command that repairs it, shown first

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity.value,
            "target": self.target,
            "message": self.message,
            "location": self.location,
            "fix": self.fix,
            "applicability": self.applicability.value if self.applicability else None,
            "member": self.member,
            "command": self.command,
        }


@dataclass(frozen=True)
class Skipped:
    """A rule that did not run on a target (or one model of it), and why."""

    rule: str
    name: str
    target: str
    reason: str
    member: str | None = None


@dataclass(frozen=True)
class CheckError:
    """A rule (or plugin) that crashed; reported, never fatal to the run."""

    rule: str
    name: str
    target: str
    error: str


@dataclass(frozen=True)
class TargetResult:
    """All outcomes for one target, plus the facts a person wants to see beside them."""

    target: str
    kind: str
    summary: Mapping[str, object] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[CheckError, ...] = ()
    seconds: float = 0.0
    rules: tuple[tuple[str, str], ...] = ()  # (code, name) of every rule run on the target
    unreadable: str | None = None  # a remote target that could not be read (a run error: exit 2), and why
    status: str = "checked"  # one of STATUSES: whether a rule looked at the target
    reason: str | None = None  # why it was not checked, not built or not read

    @property
    def checked(self) -> bool:
        return self.status == CHECKED


CHECKED, NOT_CHECKED, NOT_BUILT, UNREADABLE = "checked", "not_checked", "not_built", "unreadable"
STATUSES = (CHECKED, NOT_CHECKED, NOT_BUILT, UNREADABLE)


def count_by_severity(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, int]:
    counts = {s.value: 0 for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)}
    for f in findings:
        counts[f.severity.value] += 1
    return counts


@dataclass(frozen=True, repr=False)
class Report:
    targets: tuple[TargetResult, ...] = ()
    errors: tuple[CheckError, ...] = ()  # failures not tied to one target (plugins)
    skipped: tuple = ()  # SkippedPath: files in the folders given that were not checked, and why
    fail_on: Severity = Severity.ERROR  # the run's threshold (--fail-on): exit_code() uses it

    @property
    def findings(self) -> list[Finding]:
        return [f for t in self.targets for f in t.findings]

    @property
    def check_errors(self) -> list[CheckError]:
        return list(self.errors) + [e for t in self.targets for e in t.errors]

    @property
    def summary(self) -> dict[str, int]:
        return count_by_severity(self.findings)

    @property
    def ok(self) -> bool:
        """True when nothing reached `error` severity."""
        return not self.at_or_above(Severity.ERROR)

    def at_or_above(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]

    @property
    def not_checked(self) -> list[TargetResult]:
        """Targets no selected rule looked at (none applies, or every one was skipped): never "no problems"."""
        return [t for t in self.targets if t.status == NOT_CHECKED]

    @property
    def unreadable(self) -> list[TargetResult]:
        """Targets that could not be read (a remote file the network did not deliver): the run failed for them."""
        return [t for t in self.targets if t.unreadable]

    def exit_code(self, fail_on: Severity | str | None = None) -> int:
        """The CI contract: 2 when a target could not be read, else 1 when any finding reaches `fail_on` (the
        run's own threshold by default), else 0."""
        if self.unreadable:
            return 2
        threshold = self.fail_on if fail_on is None else Severity(fail_on)
        return 1 if self.at_or_above(threshold) else 0

    def raise_for_errors(self) -> None:
        errors = self.at_or_above(Severity.ERROR)
        if errors:
            raise DiagnosisError(errors)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __str__(self) -> str:
        text = view("text")
        if text is None:  # render not imported: a summary still says what was found
            counts = ", ".join(f"{n} {s}" for s, n in self.summary.items())
            return f"ocrdoctor report: {count(len(self.targets), 'target')}, {counts}"
        return text(self)

    __repr__ = __str__  # IPython and nbconvert show repr(): the text report, not a dataclass dump

    def _repr_html_(self) -> str | None:  # Jupyter shows a Report as a table
        html = view("html")
        return html(self) if html else None


class DiagnosisError(Exception):
    """Raised by Report.raise_for_errors; carries the error findings."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        lines = [f"{f.rule} {f.target}: {f.message}" for f in findings]
        super().__init__(f"{count(len(findings), 'error finding')}:\n" + "\n".join(lines))
