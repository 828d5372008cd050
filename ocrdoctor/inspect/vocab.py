"""The vocab a user names (`--vocab`, `vocab=`), read and checked against the file before anything is built.

A name is read as a key of the installed docTR's `VOCABS`, else as a file when the path exists
(UTF-8, one trailing newline stripped), else as the literal characters. A given vocab becomes the
file's config (source `--vocab NAME`), so the head verdicts (OD117, OD118) and every builder use it
as they use a stored one; one that contradicts a stored vocab or does not fit the head is refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..anatomy.architectures import reference_release, release_vocabs
from ..core.units import count
from .config import ModelConfig

_MAX_FILE = 1 << 20


class VocabError(ValueError):
    """The given vocab cannot be used with this file; one line naming both sides."""


def resolve_vocab(value: str) -> tuple[str, str]:
    """(the characters, how they were named): 'docTR's english', 'the file v.txt', 'the characters given'."""
    named = installed_vocabs()
    if value in named:
        return named[value], f"docTR's {value}"
    path = Path(value)
    try:
        size = path.stat().st_size if path.is_file() else None
    except (OSError, ValueError):  # a name no file system takes (too long, a NUL): characters
        size = None
    if size is None:
        return value, "the characters given"
    try:
        text = path.read_bytes().decode("utf-8") if size <= _MAX_FILE else None  # exact: no newline translation
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8
        raise VocabError(f"{value}: cannot read the vocab file ({exc.__class__.__name__})") from None
    if text is None:
        raise VocabError(f"{value}: a file of {size:,} bytes is not a vocab")
    return text[:-1] if text.endswith("\n") else text, f"the file {value}"


def installed_vocabs() -> dict[str, str]:
    """The installed docTR's VOCABS (the newest release ocrdoctor knows, without docTR)."""
    try:
        from doctr.datasets import VOCABS
    except ImportError:
        return release_vocabs(reference_release()[0])
    return dict(VOCABS)


def same_vocabs(names: list[str], vocabs: dict[str, str]) -> list[list[str]]:
    """Names grouped by identical characters (docTR 1.1's english, indonesian, malay and zulu are one string)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(vocabs[name], []).append(name)
    return [sorted(g) for g in groups.values()]


def with_vocab(facts, value: str | None):
    """The facts with the named vocab as their config; VocabError when it contradicts the file."""
    if value is None:
        return facts
    if facts.members:  # a det + reco bundle: the vocab is the recognizer's
        return replace(facts, members=tuple(with_vocab(m, value) if _reads(m) else m for m in facts.members))
    text, how = resolve_vocab(value)
    label = f"--vocab {value}" if how != "the characters given" else "--vocab"
    stored = facts.config.vocab if facts.config is not None else None
    if stored is not None and stored != text:
        raise VocabError(f"{facts.path}: {label} ({count(len(text), 'character')}) differs from the vocab stored in "
                         f"{facts.config.source} ({count(len(stored), 'character')}): the file says how it was trained")
    match = facts.architecture
    if match is not None and match.identified and match.head != "vocab":
        raise VocabError(f"{facts.path}: --vocab is a recognizer's, and this is {match.arch} ({match.task})")
    if match is not None and match.head == "vocab" and match.head_size is not None and match.head_size != len(text):
        raise VocabError(f"{facts.path}: {label} has {count(len(text), 'character')} but the head has "
                         f"{match.head_outputs} outputs, a vocab of {match.head_size}: it was not trained with {how}")
    if stored is not None:
        return facts
    config = replace(facts.config or ModelConfig(), vocab=text, source=f"{how} ({label})")
    return replace(facts, config=config)


def _reads(facts) -> bool:
    return facts.architecture is not None and facts.architecture.head == "vocab"
