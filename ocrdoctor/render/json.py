"""The JSON contract: version 1, findings, summary. Keys may be added, never removed or renamed."""

from __future__ import annotations

import json

from ..core.findings import CheckError, Report, TargetResult


def _error(e: CheckError) -> dict:
    return {"rule": e.rule, "name": e.name, "target": e.target, "error": e.error}


def target_dict(t: TargetResult) -> dict:
    """One `targets[]` entry."""
    return {
        "target": t.target,
        "kind": t.kind,
        "status": t.status,
        "reason": t.reason,
        "facts": dict(t.summary),
        "seconds": round(t.seconds, 4),
        "skipped": [{"rule": s.rule, "name": s.name, "reason": s.reason, "member": s.member} for s in t.skipped],
        "errors": [_error(e) for e in t.errors],
    }


def report_dict(report: Report) -> dict:
    return {
        **_head(),
        "findings": [f.to_dict() for f in report.findings],
        "summary": summary(report),
        "targets": [target_dict(t) for t in report.targets],
        "errors": [_error(e) for e in report.check_errors],
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }


def summary(report: Report) -> dict:
    """Counts by severity, and the targets no selected rule looked at (`status` not_checked)."""
    return {**report.summary, "not_checked": len(report.not_checked)}


def _head() -> dict:
    from ..core.version import package_version

    return {"version": 1, "tool": {"name": "ocrdoctor", "version": package_version()}}


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"


def jsonl_target(t: TargetResult) -> str:
    """One line of `--format jsonl`: a `targets[]` entry with its findings (printed as each target is done)."""
    return json.dumps({**target_dict(t), "findings": [f.to_dict() for f in t.findings]}) + "\n"


def jsonl_summary(report: Report, fail_on=None) -> str:
    """The last line of `--format jsonl`: the summary, the run's errors and skips, and the exit code."""
    return json.dumps({**_head(), "summary": summary(report), "targets": len(report.targets),
                       "errors": [_error(e) for e in report.check_errors],
                       "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
                       "exit_code": report.exit_code(fail_on)}) + "\n"


def render_jsonl(report: Report, fail_on=None) -> str:
    """One line per target, then the summary line: for runs over thousands of files."""
    return "".join(jsonl_target(t) for t in report.targets) + jsonl_summary(report, fail_on)
