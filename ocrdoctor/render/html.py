"""An HTML table (severity, code, message, fix): Jupyter's view of a Report, and `--format html`."""

from __future__ import annotations

from html import escape

from ..core.findings import Report, Severity
from ..core.units import count

_COLORS = {Severity.ERROR: "#c62828", Severity.WARNING: "#ef6c00", Severity.INFO: "#1565c0"}


def render_html(report: Report) -> str:
    rows = []
    for f in report.findings:
        fix = f"<pre style='margin:0'>{escape(f.fix)}</pre>" if f.fix else ""
        if f.fix and f.applicability:
            fix += f"<small>{escape(f.applicability.value)}</small>"
        rows.append(
            "<tr>"
            f"<td style='color:{_COLORS[f.severity]};font-weight:bold'>{f.severity.value}</td>"
            f"<td><code>{f.rule}</code><br><small>{escape(f.name)}</small></td>"
            f"<td>{escape(f.target)}</td>"
            f"<td>{escape(f.message)}" + (f"<br><small>at {escape(f.location)}</small>" if f.location else "") + "</td>"
            f"<td>{fix}</td>"
            "</tr>"
        )
    for e in report.check_errors:
        rows.append(f"<tr><td>check error</td><td><code>{escape(e.rule)}</code></td><td>{escape(e.target)}</td>"
                    f"<td colspan='2'>{escape(e.error)}</td></tr>")
    counts = report.summary
    totals = ", ".join(count(counts[k], k) for k in ("error", "warning", "info"))
    caption = f"ocrdoctor: {totals}" if rows else "ocrdoctor: no problems found"
    head = "<tr><th>severity</th><th>rule</th><th>target</th><th>message</th><th>fix</th></tr>"
    return (f"<table class='ocrdoctor' style='text-align:left'><caption style='text-align:left'>{caption}</caption>"
            f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>\n")
