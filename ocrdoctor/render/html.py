"""An HTML table (severity, code, message, fix): Jupyter's view of a Report, and `--format html`."""

from __future__ import annotations

from html import escape

from ..core.findings import Report, Severity
from ..core.units import count
from .text import target_header

_COLORS = {Severity.ERROR: "#c62828", Severity.WARNING: "#ef6c00", Severity.INFO: "#1565c0"}


def render_html(report: Report) -> str:
    """One table: per target its header line (what it is: format, size, architecture; the machine's facts for the
    environment), then its findings, each with its fix or "no automatic fix"."""
    rows = []
    for target in report.targets:
        state = "" if target.findings or target.errors else (
            f" — not checked: {target.reason}" if target.status != "checked" else " — no problems found")
        title = escape(target_header(target, False))
        rows.append(f"<tr><th colspan='5' style='text-align:left;background:#f5f5f5'>{title}"
                    f"<small>{escape(state)}</small></th></tr>")
        rows += [_row(f) for f in target.findings]
        rows += [f"<tr><td>check error</td><td><code>{escape(e.rule)}</code></td><td>{escape(e.target)}</td>"
                 f"<td colspan='2'>{escape(e.error)}</td></tr>" for e in target.errors]
    counts = report.summary
    totals = ", ".join(count(counts[k], k) for k in ("error", "warning", "info"))
    caption = f"ocrdoctor: {totals}" if report.findings or report.check_errors else "ocrdoctor: no problems found"
    head = "<tr><th>severity</th><th>rule</th><th>target</th><th>message</th><th>fix</th></tr>"
    return (f"<table class='ocrdoctor' style='text-align:left'><caption style='text-align:left'>{caption}</caption>"
            f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>\n")


def _row(f) -> str:
    fix = f"<pre style='margin:0'>{escape(f.fix)}</pre>" if f.fix else ""
    if f.command:
        fix = f"<pre style='margin:0'>{escape(f.command)}</pre>" + fix
    if f.fix and f.applicability:
        fix += f"<small>{escape(f.applicability.value)}</small>"
    if not fix:
        fix = f"<small>no automatic fix: <code>ocrdoctor explain {f.rule}</code> says what to do</small>"
    location = f"<br><small>at {escape(f.location)}</small>" if f.location else ""
    return ("<tr>"
            f"<td style='color:{_COLORS[f.severity]};font-weight:bold'>{f.severity.value}</td>"
            f"<td><code>{f.rule}</code><br><small>{escape(f.name)}</small></td>"
            f"<td>{escape(f.target)}</td>"
            f"<td>{escape(f.message)}{location}</td>"
            f"<td>{fix}</td>"
            "</tr>")


PAGE_STYLE = ("body{font-family:system-ui,sans-serif;margin:24px;color:#212121}"
              "table.ocrdoctor{border-collapse:collapse}table.ocrdoctor td,table.ocrdoctor th{border-bottom:1px solid"
              " #e0e0e0;padding:4px 8px;vertical-align:top}")


def document(title: str, body: str, style: str = "") -> str:
    """A standalone page (the look `check --format html -o` and `compare --format html -o` share)."""
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{PAGE_STYLE}{style}</style></head><body>\n{body}\n</body></html>\n")


def render_html_document(report: Report) -> str:
    """`--format html`: the report's table in a standalone page."""
    return document("ocrdoctor check", render_html(report))
