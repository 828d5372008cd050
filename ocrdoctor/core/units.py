"""Formatting numbers and lists for one-line messages."""

from __future__ import annotations

import json
from collections.abc import Sequence


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def listing(items: Sequence[str], most: int = 3) -> str:
    """The first `most` items, then how many more: 'a, b, c and 12 more'."""
    items = list(items)
    shown = ", ".join(items[:most])
    rest = len(items) - most
    return f"{shown} and {rest} more" if rest > 0 else shown


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 error', '2 errors', '3 info' (info has no plural), '2 boxes' (given)."""
    if n == 1 or word == "info":
        return f"{n} {word}"
    return f"{n} {plural or word + 's'}"


def subscript(path: tuple) -> str:
    """('checkpoint', 'model') -> ["checkpoint"]["model"], as code to paste."""
    return "".join(f"[{json.dumps(p) if isinstance(p, str) else repr(p)}]" for p in path)
