"""Renderers: pure functions from a Report to text, chosen by name."""

from __future__ import annotations

import inspect
from typing import Callable

from ..core.findings import Report
from ..core.views import register_view
from .github import render_github
from .html import render_html
from .json import render_json
from .junit import render_junit
from .sarif import render_sarif
from .text import render_text

FORMATS: dict[str, Callable[..., str]] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "junit": render_junit,
    "github": render_github,
    "html": render_html,
}

register_view("text", lambda report: render_text(report, color=False))
register_view("html", render_html)


def render(report: Report, fmt: str, **options) -> str:
    """Render with the options this format takes (colour for text, fail_on for JUnit)."""
    func = FORMATS[fmt]
    accepted = inspect.signature(func).parameters
    return func(report, **{k: v for k, v in options.items() if k in accepted})
