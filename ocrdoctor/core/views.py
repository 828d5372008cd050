"""How a Report shows itself (`str()`, `repr()`, Jupyter's HTML) without core importing render.

Core sits at the bottom of the house, so it cannot name a renderer. Instead `render` fills this
small registry when it is imported (the `ocrdoctor` package imports it), and a Report asks it for
its views by name. With no view registered a Report still prints a one-line summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_VIEWS: dict[str, Callable[[Any], str]] = {}


def register_view(name: str, view: Callable[[Any], str]) -> None:
    """Make `view(report)` the Report's view called `name` ("text" for str/repr, "html" for notebooks)."""
    _VIEWS[name] = view


def view(name: str) -> Callable[[Any], str] | None:
    return _VIEWS.get(name)
