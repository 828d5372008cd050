"""One recognition head, one verdict; and weights that fit another docTR release than the installed one.

For a recognition head built for a vocabulary of N characters (the signature table knows each
architecture's offset: len(vocab)+1, MASTER len(vocab)+3), following the table "One recognition
head, one verdict" of the rule catalog:

| situation | rule |
|---|---|
| a vocab is stored (in the file or its config) and fits N | none |
| a vocab is stored and does not fit N | OD118 |
| no vocab stored, N fits the architecture's default vocab in the installed docTR | none |
| no vocab stored, N fits a vocab (or a default) that exists only in another docTR release | OD119 |
| no vocab stored, N fits another vocab of the installed docTR, or none | OD117 |

Layout drift is OD119 too: the weights fit an architecture's layout in some releases only (FAST
arrived in 0.8.1). Without docTR installed, the newest release in the table stands in for it.
Pure functions of the facts and the committed tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.units import count, listing
from .architectures import (
    ArchMatch,
    all_releases,
    default_vocab,
    reference_release,
    release_range,
    release_vocabs,
    releases_of,
)

# What changed, and where it was reported: named in the messages.
CHANGES = {
    "legacy_french": "removed in docTR 1.0, when crnn_vgg16_bn's default became french (mindee/doctr#1969)",
    "multilingual": "grew from 195 to 726 symbols in docTR 0.12",
    "vietnamese": "reordered at the same length in docTR 0.10 (mindee/doctr#1693): the old order decodes wrong "
                  "without any error",
}


@dataclass(frozen=True)
class Verdict:
    code: str  # OD117 | OD118 | OD119
    message: str
    vocab: str | None = None  # the vocabulary to build the head with, when one is known
    vocab_name: str | None = None  # its name in the installed docTR, when it still has it


def reference_note() -> str:
    release, installed = reference_release()
    return "" if installed else f" (docTR is not installed: compared with {release}, the newest release known)"


def head_verdict(match: ArchMatch | None, stored: str | None, source: str | None) -> Verdict | None:
    """OD117 / OD118 / OD119 for a recognition head, or None when the head is fine."""
    if match is None or not match.identified or match.head != "vocab" or match.head_size is None:
        return None
    size, ref = match.head_size, match.reference or reference_release()[0]
    outputs = f"{match.head_outputs} outputs"
    if stored is not None:
        if len(stored) == size:
            return None
        return Verdict("OD118", f"the stored vocab ({source}) has {count(len(stored), 'character')} but the head has "
                                f"{outputs}: it was trained with a vocab of {size}; the model cannot be built with it")
    default = default_vocab(match.arch, ref)
    if default is not None and len(default) == size:
        return None
    here = sorted(_named(size, ref), key=lambda n: (len(n), n))
    elsewhere = _elsewhere(match.arch, size, ref)
    own_default = [e for e in elsewhere if any(n.endswith("default vocab") for n in e[1])]
    if own_default or (elsewhere and not here):  # the architecture's own former default is the likeliest
        text, names, releases = (own_default or elsewhere)[0]
        named = [n for n in names if not n.endswith("default vocab")]
        span = release_range(releases)
        what = (f"{match.arch}'s default vocab in docTR {span}" + (f" ({', '.join(named)})" if named else "")
                if own_default else f"docTR {span}'s {', '.join(named)}")
        change = "; ".join(CHANGES[n] for n in named if n in CHANGES)
        note = f": {change}" if change else ""
        also = f" (the installed docTR's {listing(here, 3)} only has its size)" if here else ""
        has = ("does not have yet" if all(_after(r, ref) for r in releases) else
               "no longer has" if not any(_after(r, ref) for r in releases) else "does not have")
        return Verdict("OD119", f"no vocab stored, and the head ({outputs}) fits {what}, {size} characters the "
                                f"installed docTR {ref} {has}{also}{note}" + reference_note(), vocab=text)
    if here:
        drifted = [n for n in here if n in CHANGES and _varies(n)]
        warning = "".join(f"; {n} was {CHANGES[n]}" for n in drifted)
        texts = {release_vocabs(ref)[n] for n in here}
        one = sorted(here)[0] if len(texts) == 1 else None  # english, indonesian, malay, zulu: one string in 1.1
        fits = (f"{one}" + (f" (the same characters as {listing(sorted(here)[1:], 4)})" if len(here) > 1 else "")
                if one else listing(here, 4))
        return Verdict("OD117", f"no vocab stored with a head of {outputs}: it fits docTR {ref}'s {fits} "
                                f"({size} characters), not {match.arch}'s default ({len(default or '')}): store the "
                                f"vocab with the weights so the deployment cannot pick another{warning}"
                                + reference_note(),
                       vocab=texts.pop() if one else None, vocab_name=one)
    return Verdict("OD117", f"no vocab stored with a head of {outputs}: a custom vocab of {size} characters "
                            f"(no docTR vocab has that size); the deployment cannot know the characters"
                            + reference_note())


def layout_drift(match: ArchMatch | None) -> str | None:
    """Why the weights fit another release's layout than the reference one's, or None."""
    if match is None or not match.identified or not match.fits or not match.releases:
        return None
    ref = reference_release()[0]
    if ref in match.releases:
        return None
    fitting = release_range(match.releases)
    available = releases_of(match.arch)
    if ref not in available:
        newer = [r for r in all_releases() if r in available]
        when = "arrived in" if newer and _after(newer[0], ref) else "was removed after"
        return (f"the weights fit docTR {fitting}'s {match.arch}, which {when} docTR "
                f"{newer[0] if when == 'arrived in' else newer[-1]}: the installed docTR {ref} cannot build it"
                + reference_note())
    return (f"the weights fit docTR {fitting}'s layout of {match.arch}, not the installed docTR {ref}'s: "
            f"its keys or shapes changed between releases" + reference_note())


def _named(size: int, release: str) -> set[str]:
    return {name for name, text in release_vocabs(release).items() if len(text) == size}


def _elsewhere(arch: str, size: int, ref: str) -> list[tuple[str, list[str], list[str]]]:
    """(text, names, releases) of vocabularies of `size` that the reference release does not have."""
    present = set(release_vocabs(ref).values())
    found: dict[str, tuple[list[str], list[str]]] = {}
    for release in all_releases():
        if release == ref:
            continue
        candidates: dict[str, list[str]] = {}
        default = default_vocab(arch, release)
        if default is not None and len(default) == size:
            candidates[default] = ["default vocab"]
        for name, text in release_vocabs(release).items():
            if len(text) == size:
                candidates.setdefault(text, []).append(name)
        for text, labels in candidates.items():
            if text in present:
                continue
            names, releases = found.setdefault(text, ([], []))
            names.extend(n for n in labels if n not in names)
            releases.append(release)
    return [(text, names, releases) for text, (names, releases) in found.items()]


def _varies(name: str) -> bool:
    """Whether a vocabulary of this name has had different contents in different releases."""
    return len({release_vocabs(r).get(name) for r in all_releases()} - {None}) > 1


def _after(a: str, b: str) -> bool:
    order = list(all_releases())
    return order.index(a) > order.index(b)
