"""The JSON contract: version 1, findings, summary. Keys may be added, never removed or renamed."""

from __future__ import annotations

import json

from ..core.findings import CheckError, Report


def _error(e: CheckError) -> dict:
    return {"rule": e.rule, "name": e.name, "target": e.target, "error": e.error}


def report_dict(report: Report) -> dict:
    from ..core.version import package_version

    return {
        "version": 1,
        "tool": {"name": "ocrdoctor", "version": package_version()},
        "findings": [f.to_dict() for f in report.findings],
        "summary": report.summary,
        "targets": [
            {
                "target": t.target,
                "kind": t.kind,
                "facts": dict(t.summary),
                "seconds": round(t.seconds, 4),
                "skipped": [{"rule": s.rule, "name": s.name, "reason": s.reason, "member": s.member}
                            for s in t.skipped],
                "errors": [_error(e) for e in t.errors],
            }
            for t in report.targets
        ],
        "errors": [_error(e) for e in report.check_errors],
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), indent=2) + "\n"
