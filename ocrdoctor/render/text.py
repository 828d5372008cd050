"""Human output: grouped by target, coloured by severity only when asked (a terminal)."""

from __future__ import annotations

from collections import Counter

import click

from ..core.findings import Finding, Report, Severity, TargetResult
from ..core.units import count, human_bytes

_COLORS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
FILE_KINDS = ("checkpoint", "onnx")  # targets read from a file, counted as files in the summary


def render_text(report: Report, color: bool = False, verbose: bool = False) -> str:
    lines: list[str] = []
    for target in report.targets:
        lines.append(_header(target, color))
        other = target.summary.get("other_weights")
        if other:  # a second weight set is checked only when asked for: say how
            first = str(other).split(", ")[0]
            lines.append(f"  also holds a second weight set: {other} (check it with --key {first})")
        for finding in target.findings:
            lines += _finding(finding, color)
        for error in target.errors:
            lines.append(f"  {error.rule} {_paint('check error', 'magenta', color)}: {error.error}")
        if verbose:
            lines += [f"  {s.rule} skipped{f' [{s.member}]' if s.member else ''}: {s.reason}" for s in target.skipped]
        if target.summary.get("not_built"):
            lines.append("  " + _paint(f"not built: {target.summary['not_built'].removeprefix('not built: ')}",
                                       "magenta", color))
        elif not target.findings and not target.errors:
            lines.append("  " + _paint("no problems found", "green", color))
        lines.append("")
    for error in report.errors:
        lines.append(f"{_paint('plugin error', 'magenta', color)}: {error.name}: {error.error}")
    if verbose and report.skipped:
        lines += [f"not checked: {s.path}: {s.reason}" for s in report.skipped] + [""]
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def _header(target: TargetResult, color: bool) -> str:
    facts = target.summary
    parts = [str(facts[k]) for k in ("format",) if facts.get(k)]
    if "bytes" in facts:
        parts.append(human_bytes(int(facts["bytes"])))
    if facts.get("architecture"):
        parts.append(str(facts["architecture"]))
    parts += [str(facts[k]) for k in ("components", "devices", "dtypes", "graph", "reading") if facts.get(k)]
    detail = f"  ({', '.join(parts)})" if parts else ""
    return click.style(target.target, bold=True) + detail if color else target.target + detail


def _finding(f: Finding, color: bool) -> list[str]:
    sev = _paint(f"{f.severity.value:<7}", _COLORS[f.severity], color)
    member = f" [{f.member}]" if f.member else ""
    lines = [f"  {f.rule} {sev} {f.name}{member}: {f.message}"]
    if f.command:
        lines.append(f"      run: {f.command}")
    if f.location:
        lines.append(f"      at: {f.location}")
    if f.fix:
        label = f"fix ({f.applicability.value})" if f.applicability else "fix"
        first, *rest = f.fix.splitlines()
        lines.append(f"      {label}: {first}")
        lines += [" " * (8 + len(label)) + line for line in rest]
    return lines


def _summary(report: Report) -> str:
    counts = report.summary
    total = sum(counts.values())
    errors = len(report.check_errors)
    crashed = f"; {count(errors, 'check error')}" if errors else ""
    if not total:
        return f"No problems found in {_what(report)}{crashed}."
    parts = ", ".join(count(counts[k], k) for k in ("error", "warning", "info"))
    return f"Found {count(total, 'problem')} ({parts}) in {_what(report)}{crashed}."


def _what(report: Report) -> str:
    """'2 files, the model and the environment': what the run looked at."""
    kinds = Counter("file" if t.kind in FILE_KINDS else t.kind for t in report.targets)
    parts = []
    for kind, one, many in (("file", "1 file", "{} files"), ("model", "the model", "{} models"),
                            ("environment", "the environment", "{} environments"),
                            ("comparison", "1 page", "{} pages")):
        if kinds.get(kind):
            parts.append(one if kinds[kind] == 1 else many.format(kinds[kind]))
    parts += [f"{n} {kind}" for kind, n in kinds.items() if kind not in ("file", "model", "environment", "comparison")]
    if not parts:
        return "0 files"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _paint(text: str, fg: str, color: bool) -> str:
    return click.style(text, fg=fg) if color else text
