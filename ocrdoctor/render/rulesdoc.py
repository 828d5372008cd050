"""The rule catalog from the rules' own texts: `ocrdoctor rules` and docs/rules.md."""

from __future__ import annotations

import json

from ..anatomy.architectures import (
    all_releases,
    arch_names,
    default_head,
    reference_release,
    release_range,
    releases_of,
    signatures,
    table_info,
)
from ..core.registry import DOC_SECTIONS, FIELD_SECTION, VALUES_NOTE, default


def render_rules(fmt: str = "text", builtin_only: bool = False) -> str:
    rules = [r for r in default.load().sorted_rules() if not builtin_only or r.origin == "ocrdoctor"]
    if fmt == "json":
        return json.dumps([
            {"code": r.code, "name": r.name, "severity": r.severity.value, "target": r.target,
             "also": list(r.also), "values": r.values, "summary": r.summary, "origin": r.origin, "docs": r.docs}
            for r in rules
        ], indent=2) + "\n"
    if fmt == "markdown":
        return _markdown(rules)
    width = max(len(r.name) for r in rules)
    lines = [f"{'code':<7} {'name':<{width}} {'severity':<8} {'target':<11} summary"]
    lines += [f"{r.code:<7} {r.name:<{width}} {r.severity.value:<8} {', '.join(r.kinds):<11} {r.summary}"
              for r in rules]
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
    out += [f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.severity.value} | {', '.join(r.kinds)} | {r.summary} |"
            for r in rules]
    for r in rules:
        out += ["", f"## {r.code}", "", f"**{r.name}** ({r.severity.value}, {', '.join(r.kinds)}): {r.summary}"]
        if r.values:
            out += ["", VALUES_NOTE]
        for section in (*DOC_SECTIONS, FIELD_SECTION):
            if r.docs.get(section):
                out += ["", f"### {section}", "", r.docs[section]]
    return "\n".join(out) + "\n"


def render_archs(fmt: str = "text") -> str:
    """Every architecture the table knows, with its forms and the docTR releases it exists in."""
    ref, installed = reference_release()
    rows = []
    for arch in arch_names():
        sigs = [sig for sig in signatures() if sig.arch == arch]
        forms = sorted({sig.form for sig in sigs})
        rows.append((arch, sigs[0].task, ", ".join(forms), release_range(releases_of(arch)),
                     default_head(arch, sigs[0].form, ref) if sigs[0].head else None))
    if fmt == "json":
        return json.dumps({**table_info(), "architectures": [
            {"arch": a, "task": t, "forms": f.split(", "), "releases": r, "head_default": d} for a, t, f, r, d in rows
        ]}, indent=2) + "\n"
    which = f"the installed docTR {ref}" if installed else f"docTR {ref} (docTR is not installed)"
    lines = [f"docTR architectures ocrdoctor identifies (releases {release_range(all_releases())}; defaults of "
             f"{which}):"]
    table = [("architecture", "task", "forms", "releases", "default head")]
    table += [(a, t, f, r, "" if d is None else str(d)) for a, t, f, r, d in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines) + "\n"


def render_vocabs(fmt: str = "text") -> str:
    """The installed docTR's vocabs by name (what `--vocab NAME` takes), their sizes, and which are one string."""
    from ..inspect.vocab import installed_vocabs, same_vocabs

    vocabs = installed_vocabs()
    ref, installed = reference_release()
    alike = {name: [o for o in group if o != name] for group in same_vocabs(list(vocabs), vocabs) for name in group}
    if fmt == "json":
        return json.dumps({"doctr_release": ref, "installed": installed, "vocabs": [
            {"name": n, "size": len(v), "same_as": alike[n]} for n, v in vocabs.items()]}, indent=2) + "\n"
    which = f"the installed docTR {ref}" if installed else f"docTR {ref} (docTR is not installed)"
    if fmt == "markdown":
        rows = [f"| `{n}` | {len(v)} | {', '.join(alike[n])} |" for n, v in vocabs.items()]
        head = ["| name | size | same characters as |", "|---|---|---|"]
        return "\n".join([f"Vocabs of {which}:", "", *head, *rows]) + "\n"
    width = max(len(n) for n in vocabs)
    lines = [f"Vocabs of {which} (--vocab NAME):", f"  {'name':<{width}}  {'size':>5}  same characters as"]
    lines += [f"  {n:<{width}}  {len(v):>5}  {', '.join(alike[n])}".rstrip() for n, v in vocabs.items()]
    return "\n".join(lines) + "\n"
