"""Renderers: pure functions from a Report to text, chosen by name."""

from __future__ import annotations

from typing import Callable

from ..findings import Report
from .json import render_json
from .text import render_text

FORMATS: dict[str, Callable[..., str]] = {"text": render_text, "json": render_json}


def render(report: Report, fmt: str, **options) -> str:
    if fmt != "text":
        options.pop("color", None)
        options.pop("verbose", None)
    return FORMATS[fmt](report, **options)
