"""Human output: grouped by target, coloured by severity only when asked (a terminal).

Under each target its findings come first, then each distinct fix once, naming the findings it
clears: the command (`ocrdoctor fix ...`) before the program. A run over files in several
folders ends with a line per folder. `render_concise` is one line per finding, for grep and logs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import PurePath

import click

from ..core.findings import NOT_BUILT, NOT_CHECKED, Finding, Report, Severity, TargetResult
from ..core.units import count, human_bytes

_COLORS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
FILE_KINDS = ("checkpoint", "onnx")  # targets read from a file, counted as files in the summary


def render_text(report: Report, color: bool = False, verbose: bool = False) -> str:
    lines: list[str] = []
    for target in report.targets:
        lines.append(target_header(target, color))
        other = target.summary.get("other_weights")
        if other:  # a second weight set is checked only when asked for: say how
            first = str(other).split(", ")[0]
            lines.append(f"  also holds a second weight set: {other} (check it with --key {first})")
        for finding in target.findings:
            lines += _finding(finding, color)
        for codes, sample in _fixes(target.findings):
            lines += _fix(codes, sample)
        for error in target.errors:
            if target.unreadable:
                lines.append("  " + _paint(error.error, "magenta", color))
            else:
                lines.append(f"  {error.rule} {_paint('check error', 'magenta', color)}: {error.error}")
        if verbose:
            lines += [f"  {s.rule} skipped{f' [{s.member}]' if s.member else ''}: {s.reason}" for s in target.skipped]
        if target.status == NOT_BUILT:
            lines.append("  " + _paint(f"not built: {target.reason}", "magenta", color))
        elif target.status == NOT_CHECKED:
            lines.append("  " + _paint(f"not checked: {target.reason}", "magenta", color))
        elif not target.findings and not target.errors:
            lines.append("  " + _paint("no problems found", "green", color))
        lines.append("")
    for error in report.errors:
        lines.append(f"{_paint('plugin error', 'magenta', color)}: {error.name}: {error.error}")
    if verbose and report.skipped:
        lines += [f"not checked: {s.path}: {s.reason}" for s in report.skipped] + [""]
    lines += _folder_lines(report)
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def render_concise(report: Report, color: bool = False, verbose: bool = False) -> str:
    """`path: CODE [severity] message`, one line per finding and per check error, then the summary."""
    lines = []
    for target in report.targets:
        for f in target.findings:
            member = f"[{f.member}] " if f.member else ""
            sev = _paint(f"[{f.severity.value}]", _COLORS[f.severity], color)
            lines.append(f"{target.target}: {f.rule} {sev} {member}{f.message}")
        lines += [f"{target.target}: {'[unreadable]' if target.unreadable else f'{e.rule} [check error]'} {e.error}"
                  for e in target.errors]
    lines += [f"{_paint('plugin error', 'magenta', color)}: {e.name}: {e.error}" for e in report.errors]
    if verbose:
        lines += [f"{s.path}: not checked: {s.reason}" for s in report.skipped]
    lines.append(_summary(report))
    return "\n".join(lines) + "\n"


def target_header(target: TargetResult, color: bool) -> str:
    facts = target.summary
    parts = [str(facts[k]) for k in ("format",) if facts.get(k)]
    if "bytes" in facts:
        parts.append(human_bytes(int(facts["bytes"])))
    if facts.get("shards"):
        parts.append(f"{facts['shards']} shards joined by the index")
    if facts.get("shard"):
        parts.append(f"shard {facts['shard']} of a sharded model: check its index (*.index.json) for the model")
    if facts.get("architecture"):
        parts.append(str(facts["architecture"]))
    parts += [str(facts[k]) for k in ("components", "devices", "dtypes", "graph", "reading") if facts.get(k)]
    detail = f"  ({', '.join(parts)})" if parts else ""
    return click.style(target.target, bold=True) + detail if color else target.target + detail


def _finding(f: Finding, color: bool) -> list[str]:
    sev = _paint(f"{f.severity.value:<7}", _COLORS[f.severity], color)
    member = f" [{f.member}]" if f.member else ""
    lines = [f"  {f.rule} {sev} {f.name}{member}: {f.message}"]
    if f.location:
        lines.append(f"      at: {f.location}")
    return lines


def _fixes(findings: tuple[Finding, ...]) -> list[tuple[list[str], Finding]]:
    """Each distinct (command, fix) once, in the order first met, with the codes of the findings it clears."""
    groups: dict[tuple, tuple[list[str], Finding]] = {}
    for f in findings:
        if not (f.command or f.fix):
            continue
        codes, _ = groups.setdefault((f.command, f.fix, f.applicability), ([], f))
        code = f"{f.rule} [{f.member}]" if f.member else f.rule
        if code not in codes:
            codes.append(code)
    return [(sorted(codes), f) for codes, f in groups.values()]


def _fix(codes: list[str], f: Finding) -> list[str]:
    label = f" ({f.applicability.value})" if f.applicability else ""
    head = f"  fix for {', '.join(codes)}{label}:"
    if f.command and not f.fix:
        return [f"{head} run {f.command}"]
    if not f.command and len(f.fix.splitlines()) == 1:
        return [f"{head} {f.fix}"]
    lines = [head]
    if f.command:
        lines.append(f"      run: {f.command}")
    first, *rest = f.fix.splitlines()
    label = "or in Python" if f.command else "in Python"
    if not f.applicability:  # prose, not a program
        return lines + [f"      {'or: ' if f.command else ''}{first}"] + [f"      {line}" for line in rest]
    return lines + [f"      {label}:"] + [f"        {line}" if line else "" for line in (first, *rest)]


def _folder_lines(report: Report) -> list[str]:
    """One summary line per folder, when the files checked sit in more than one."""
    folders: dict[str, list[TargetResult]] = {}
    for t in report.targets:
        if t.kind in FILE_KINDS:
            folders.setdefault(str(PurePath(t.target.split("::")[0]).parent), []).append(t)
    if len(folders) < 2:
        return []
    lines = []
    for folder, targets in sorted(folders.items()):
        found = Counter(f.severity.value for t in targets for f in t.findings)
        total = sum(found.values())
        what = count(len(targets), "file")
        if not total:
            lines.append(f"{folder}/: no problems in {what}")
            continue
        parts = ", ".join(count(found[k], k) for k in ("error", "warning", "info") if found[k])
        lines.append(f"{folder}/: {count(total, 'problem')} ({parts}) in {what}")
    return lines


def _summary(report: Report) -> str:
    counts = report.summary
    total = sum(counts.values())
    unread = len(report.unreadable)
    errors = len(report.check_errors) - unread
    crashed = f"; {count(errors, 'check error')}" if errors else ""
    crashed += f"; {count(unread, 'target')} could not be read" if unread else ""
    unchecked = len(report.not_checked)
    crashed += f"; {count(unchecked, 'target')} not checked" if unchecked else ""
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
                            ("comparison", "1 page", "{} pages"),
                            ("onnxtr", "the OnnxTR predictor", "{} OnnxTR predictors")):
        if kinds.get(kind):
            parts.append(one if kinds[kind] == 1 else many.format(kinds[kind]))
    parts += [f"{n} {kind}" for kind, n in kinds.items()
              if kind not in ("file", "model", "environment", "comparison", "onnxtr")]
    if not parts:
        return "0 files"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _paint(text: str, fg: str, color: bool) -> str:
    return click.style(text, fg=fg) if color else text
