"""The rule catalog from the rules' own texts: `ocrdoctor rules` and docs/rules.md."""

from __future__ import annotations

import json

from .architectures import signatures, table_info
from .registry import DOC_SECTIONS, default


def render_rules(fmt: str = "text", builtin_only: bool = False) -> str:
    rules = [r for r in default.load().sorted_rules() if not builtin_only or r.origin == "ocrdoctor"]
    if fmt == "json":
        return json.dumps([
            {"code": r.code, "name": r.name, "severity": r.severity.value, "target": r.target,
             "summary": r.summary, "origin": r.origin, "docs": r.docs}
            for r in rules
        ], indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(rules)
    width = max(len(r.name) for r in rules)
    lines = [f"{'code':<7} {'name':<{width}} {'severity':<8} {'target':<11} summary"]
    lines += [f"{r.code:<7} {r.name:<{width}} {r.severity.value:<8} {r.target:<11} {r.summary}" for r in rules]
    return "\n".join(lines) + "\n"


def _markdown(rules) -> str:
    out = [
        "# Rules reference",
        "",
        "Generated from the rules' own docstrings by `ocrdoctor rules --format markdown --builtin-only`;",
        "`tests/test_docs.py` fails when this page is out of date. `ocrdoctor explain CODE` shows one rule.",
        "",
        "| code | name | severity | target | summary |",
        "|---|---|---|---|---|",
    ]
    out += [f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.severity.value} | {r.target} | {r.summary} |" for r in rules]
    for r in rules:
        out += ["", f"## {r.code}", "", f"**{r.name}** ({r.severity.value}, {r.target}): {r.summary}"]
        for section in DOC_SECTIONS:
            out += ["", f"### {section}", "", r.docs[section]]
    return "\n".join(out) + "\n"


def render_archs(fmt: str = "text") -> str:
    rows = [(s.arch, s.task, s.form, s.head or "", s.head_default or "") for s in signatures()]
    if fmt == "json":
        return json.dumps({**table_info(), "architectures": [
            {"arch": a, "task": t, "form": f, "head": h or None, "head_default": d or None} for a, t, f, h, d in rows
        ]}, indent=2) + "\n"
    lines = [f"docTR {table_info().get('doctr_version', '?')} architectures ocrdoctor identifies:"]
    lines += [f"  {a:<24} {t:<12} {f:<16} {h} {d}".rstrip() for a, t, f, h, d in rows]
    return "\n".join(lines) + "\n"
