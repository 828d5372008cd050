"""The true text of pages, and how much of it a reading gets right: what says a proof proves little.

"Reads the same before and after" proves a change kept the model only when the model reads: a
model that reads one word per page, or a fifth of the words a page holds, reads the same garbage
before and after. The truth is the shipped samples' `truth.json`, or the user's `--truth FILE`:
JSON of page name to its text (a string, split on white space, or a list of words).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from ..core.units import count

LITTLE = 0.2  # below this share of the true words right, a proof in words proves little
_MAX_FILE = 64 << 20


class TruthError(ValueError):
    """The truth file cannot be used; one line, for the user."""


class Truth(NamedTuple):
    pages: dict[str, tuple[str, ...]]  # page (or crop) name -> its true words
    source: str  # "the samples' truth.json", "truth.json"


class Accuracy(NamedTuple):
    right: int  # true words read exactly (each counted once per page)
    total: int  # true words on the pages that have a truth
    pages: int
    source: str

    @property
    def share(self) -> float:
        return self.right / self.total if self.total else 0.0

    def describe(self) -> str:
        return (f"{self.right}/{count(self.total, 'true word')} read right ({self.share:.0%}) on "
                f"{count(self.pages, 'page')} ({self.source})")


def load_truth(path: str | Path) -> Truth:
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_FILE:
            raise TruthError(f"{path}: {path.stat().st_size:,} bytes is not a truth file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TruthError(f"cannot read the truth file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TruthError(f"{path}: not a JSON truth file ({exc.__class__.__name__})") from None
    pages = data.get("pages", data) if isinstance(data, dict) else None
    if not isinstance(pages, dict) or not all(isinstance(v, (str, list)) for v in pages.values()):
        raise TruthError(f'{path}: expected JSON of page name to its text ({{"page-1.png": "the words"}})')
    return Truth({name: _words(v) for name, v in pages.items()}, path.name)


def shipped_truth() -> Truth:
    """The true words of the trained pair's sample pages and word crops."""
    from ..specimens.pair import truth

    data = truth()
    pages = {**data.get("pages", {}), **{k: [v] if isinstance(v, str) else v for k, v in data.get("words", {}).items()}}
    return Truth({k: _words(v) for k, v in pages.items()}, "the samples' truth.json")


def _words(value: str | list) -> tuple[str, ...]:
    return tuple(value.split()) if isinstance(value, str) else tuple(str(w) for w in value)


def accuracy(pages: dict[str, list[str]], truth: Truth | None) -> Accuracy | None:
    """The words read right on the pages the truth knows (by name), or None when it knows none of them."""
    if truth is None:
        return None
    known = [(true, read) for name, read in pages.items() if (true := _true(truth, name)) is not None]
    if not known:
        return None
    right = sum(sum((Counter(true) & Counter(read)).values()) for true, read in known)
    return Accuracy(right, sum(len(true) for true, _ in known), len(known), truth.source)


def _true(truth: Truth, name: str) -> tuple[str, ...] | None:
    """A page's true words by its name as read (a path), else by its file name."""
    found = truth.pages.get(name)
    return found if found is not None else truth.pages.get(Path(name).name)


def proves_little(pages: dict[str, list[str]], truth: Truth | None, unit: str = "page",
                  who: str = "the model before") -> str | None:
    """Why a proof on this reading proves little (None when it reads enough): fewer than one word per page, or,
    where the truth is known, fewer than a fifth of the true words right."""
    words = sum(len(w) for w in pages.values())
    if pages and words < len(pages):
        return (f"{who} reads {count(words, 'word')} on {count(len(pages), unit)}: reading the same proves "
                "little about a model that reads this little")
    found = accuracy(pages, truth)
    if found is not None and found.share < LITTLE:
        return f"{who} gets {found.describe()}: reading the same proves little about a model that reads this little"
    return None
