"""Renderers: pure functions from a Report to text, registered by name in core's format registry, each
imported on first use (a check renders one format, so it imports one renderer)."""

from __future__ import annotations

import importlib

from ..core.findings import Report
from ..core.formats import Format, format_names, get_format, register_format
from ..core.views import register_view

for _fmt in (
    Format("text", f"{__name__}.text:render_text", ("color", "verbose"), "grouped by target, fixes under each"),
    Format("concise", f"{__name__}.text:render_concise", ("color", "verbose"), "one line per finding"),
    Format("json", f"{__name__}.json:render_json", (), "one JSON object (the stable contract)"),
    Format("jsonl", f"{__name__}.json:render_jsonl", ("fail_on",), "one JSON line per target, then a summary"),
    Format("sarif", f"{__name__}.sarif:render_sarif", (), "SARIF 2.1.0 for code scanning"),
    Format("junit", f"{__name__}.junit:render_junit", ("fail_on",), "JUnit XML for CI test reports"),
    Format("github", f"{__name__}.github:render_github", (), "GitHub Actions annotations"),
    Format("html", f"{__name__}.html:render_html_document", (), "a self-contained HTML page"),
):
    register_format(_fmt)

FORMATS = format_names()


def render(report: Report, fmt: str, **options) -> str:
    """Render in `fmt` with `options`; an option the format does not take is a TypeError."""
    spec = get_format(fmt)
    extra = sorted(set(options) - set(spec.options))
    if extra:
        raise TypeError(f"format {fmt!r} takes no option {extra[0]!r} (it takes: {', '.join(spec.options) or 'none'})")
    return spec.load()(report, **options)


def renderer(fmt: str):
    return get_format(fmt).load()


register_view("text", lambda report: render(report, "text", color=False))
register_view("html", lambda report: importlib.import_module(f"{__name__}.html").render_html(report))
register_view("comparison-html",  # a Comparison in a notebook: the page images with both sides' boxes, the words
              lambda comparison: importlib.import_module(f"{__name__}.picture").body(comparison))
