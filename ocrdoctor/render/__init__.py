"""Renderers: pure functions from a Report to text, chosen by name, each imported on first use."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from ..core.findings import Report
from ..core.views import register_view

# name -> (module, function): a check renders one format, so it imports one renderer
_RENDERERS = {
    "text": ("text", "render_text"),
    "concise": ("text", "render_concise"),
    "json": ("json", "render_json"),
    "jsonl": ("json", "render_jsonl"),
    "sarif": ("sarif", "render_sarif"),
    "junit": ("junit", "render_junit"),
    "github": ("github", "render_github"),
    "html": ("html", "render_html"),
}


def renderer(fmt: str) -> Callable[..., str]:
    module, name = _RENDERERS[fmt]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


FORMATS = tuple(_RENDERERS)  # the names; renderer(name) imports one

register_view("text", lambda report: renderer("text")(report, color=False))
register_view("html", lambda report: renderer("html")(report))
register_view("comparison-html",  # a Comparison in a notebook: both readings side by side
              lambda comparison: importlib.import_module(f"{__name__}.comparison").render_comparison_html(comparison))


def render(report: Report, fmt: str, **options) -> str:
    """Render with the options this format takes (colour for text, fail_on for JUnit)."""
    func = renderer(fmt)
    accepted = inspect.signature(func).parameters
    return func(report, **{k: v for k, v in options.items() if k in accepted})
