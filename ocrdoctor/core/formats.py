"""The format registry: every output format by name, with the options its renderer takes.

Renderers register here when `ocrdoctor.render` is imported (the package imports it), so the
CLI's `--format` choices, the config's `format` key and `render()` read one list. A renderer is
imported only when its format is used. An option a format does not take is an error, never dropped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    """An output format: its renderer (`module:function`, imported on first use) and the options it takes."""

    name: str
    renderer: str
    options: tuple[str, ...] = ()
    description: str = ""

    def load(self) -> Callable[..., str]:
        module, _, func = self.renderer.partition(":")
        return getattr(importlib.import_module(module), func)


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> None:
    _FORMATS[fmt.name] = fmt


def format_names() -> tuple[str, ...]:
    """The formats' names, in the order they were registered."""
    return tuple(_FORMATS)


def get_format(name: str) -> Format:
    try:
        return _FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r} (known: {', '.join(_FORMATS)})") from None


def options_for(name: str, **wanted) -> dict:
    """Of the options a command has (`color`, `verbose`, `fail_on`), those the format `name` takes."""
    taken = get_format(name).options
    return {k: v for k, v in wanted.items() if k in taken}
