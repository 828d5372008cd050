"""GitHub Actions workflow commands: one annotation per finding on the pull request."""

from __future__ import annotations

from ..core.findings import Report, Severity

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    lines = []
    for f in report.findings:
        body = f.message + (f"\nat: {f.location}" if f.location else "") + (f"\nfix: {f.fix}" if f.fix else "")
        title = f"{f.rule} {f.name}" + (f" [{f.member}]" if f.member else "")
        lines.append(f"::{COMMANDS[f.severity]} file={_property(f.target)},title={_property(title)}::{_data(body)}")
    for e in report.check_errors:
        lines.append(f"::error title={_property(e.rule + ' check error')}::{_data(e.target + ': ' + e.error)}")
    return "\n".join(lines) + ("\n" if lines else "")
