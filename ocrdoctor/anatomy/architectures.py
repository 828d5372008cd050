"""Which docTR architecture (and which docTR releases) a state_dict fits, without importing docTR.

The signature table (`data/architectures.json`) holds, for every docTR release from 0.7 to 1.1,
every detection and recognition architecture's state_dict keys and shapes (FAST in both its
training and reparameterized forms), which dimensions grow with the vocabulary or the number of
classes, each architecture's default vocabulary, and the named vocabularies the release ships.
Signatures identical across releases are stored once, with the releases they hold for, and an
index from key to signatures keeps identification fast however many releases there are.
`tools/doctr_tables.py` regenerates it, installing each release into a throwaway environment;
a test fails when the installed docTR drifts from its release's entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

THRESHOLD = 0.6  # share of keys (with compatible shapes) needed to call an architecture identified
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class Signature:
    arch: str
    task: str  # detection | recognition | classification
    form: str  # standard | training | reparameterized
    keys: Mapping[str, tuple[int, ...]]
    head: str | None  # "vocab" or "classes": what the head dims count
    head_default: int | None  # the default vocabulary's / class list's size
    head_dims: Mapping[str, tuple[tuple[int, int], ...]]  # key -> (dim, offset): size = count + offset
    releases: tuple[str, ...] = ()  # the docTR releases whose architecture has exactly this signature
    default_vocabs: Mapping[str, str] = field(default_factory=dict)  # release -> default vocabulary


@dataclass(frozen=True)
class ArchMatch:
    arch: str
    task: str
    form: str
    score: float
    requested: bool
    prefix: str  # wrapper prefix removed before matching ("module." ...)
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]  # key, saved, expected
    head: str | None
    head_size: int | None  # the vocabulary / class count the saved head was built for
    head_default: int | None  # the default's size in the reference release (the installed docTR's)
    releases: tuple[str, ...] = ()  # releases whose layout the weights fit (whatever the head's size)
    reference: str | None = None  # the release the defaults are taken from
    head_offset: int = 0  # outputs = head_size + head_offset (CTC: +1, MASTER: +3)
    same_layout: tuple[str, ...] = ()  # other architectures the weights fit as exactly (the crop and page
    # orientation classifiers share one layout): the file cannot tell them apart

    @property
    def head_outputs(self) -> int | None:
        return None if self.head_size is None else self.head_size + self.head_offset

    @property
    def identified(self) -> bool:
        return self.requested or self.score >= THRESHOLD

    @property
    def custom_head(self) -> bool:
        return self.head_size is not None and self.head_size != self.head_default

    @property
    def fits(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        text = f"{self.arch} ({self.task}"
        if self.form != "standard":
            text += f", {self.form} form"
        if self.custom_head:
            text += f", {self.head} of {self.head_size}"
        if self.same_layout:
            text += f", or {' or '.join(self.same_layout)}: the same layout"
        if self.releases and self.fits:
            text += f", docTR {release_range(self.releases)}"
        return text + ")"


def strip_wrappers(keys: list[str]) -> str:
    """The DataParallel / torch.compile prefix every key shares ("" when none)."""
    prefix = ""
    while keys:
        for wrapper in WRAPPER_PREFIXES:
            if all(k.startswith(prefix + wrapper) for k in keys):
                prefix += wrapper
                break
        else:
            return prefix
    return prefix


def identify(shapes: Mapping[str, tuple[int, ...]], requested: str | None = None) -> ArchMatch | None:
    """Best matching signature, restricted to `requested` when given; None when nothing overlaps.

    Only signatures sharing at least one key are compared (an index from key to signatures),
    so the cost follows the file's keys, not the number of signatures. Among equal scores the
    reference release's signature wins (the installed docTR's, else the newest).
    """
    if requested is None and len(shapes) > 10 * _largest_signature():
        return None  # even a full match of the largest architecture would cover under 10% of the keys
    wrappers = strip_wrappers(list(shapes))
    keys = [k[len(wrappers):] for k in shapes]
    scored = []
    for prefix in dict.fromkeys((wrappers, wrappers + shared_prefix(keys))):  # Lightning's `model.` ...
        saved = {k[len(prefix):]: tuple(v) for k, v in shapes.items()}
        for sig in _candidates(saved, requested):
            match = compare(sig, saved, prefix, requested is not None)
            if match.requested or match.score > 0:
                scored.append((match, sig))
    if not scored:
        return None
    reference = reference_release()[0]
    best, sig = max(scored, key=lambda ms: (ms[0].score, reference in ms[1].releases, _newest(ms[1].releases)))
    fitting = {r for m, s in scored if m.arch == best.arch and m.form == best.form and m.fits for r in s.releases}
    twins = tuple(sorted({m.arch for m, _ in scored if m.arch != best.arch and m.fits and m.score == best.score}))
    ref = reference if reference in releases_of(best.arch, best.form) else _newest(releases_of(best.arch, best.form))
    return _with(best, releases=tuple(r for r in all_releases() if r in fitting), reference=ref,
                 head_default=default_head(best.arch, best.form, ref) if best.head else None,
                 same_layout=twins if best.fits and not best.requested else ())


def _candidates(saved: Mapping[str, tuple[int, ...]], requested: str | None) -> list[Signature]:
    if requested is not None:
        return [s for s in signatures() if s.arch == requested]
    index, table = _key_index(), signatures()
    return [table[i] for i in sorted({i for k in saved for i in index.get(k, ())})]


def shared_prefix(keys: list[str]) -> str:
    """The dotted components every key starts with ("model." for Lightning), "" when none."""
    if not keys:
        return ""
    parts = keys[0].split(".")[:-1]
    length = 0
    for i in range(len(parts)):
        head = ".".join(parts[:i + 1]) + "."
        if all(k.startswith(head) for k in keys):
            length = i + 1
        else:
            break
    return "".join(p + "." for p in parts[:length])


def _with(match: ArchMatch, **changes) -> ArchMatch:
    from dataclasses import replace

    return replace(match, **changes)


def compare(sig: Signature, saved: Mapping[str, tuple[int, ...]], prefix: str, requested: bool) -> ArchMatch:
    common = [k for k in sig.keys if k in saved]
    head_sizes = {
        saved[k][dim] - offset
        for k in common
        for dim, offset in sig.head_dims.get(k, ())
        if len(saved[k]) == len(sig.keys[k])
    }
    head_size = head_sizes.pop() if len(head_sizes) == 1 else None
    mismatched = []
    for k in common:
        expected = _expected(sig, k, head_size)
        if saved[k] != expected:
            mismatched.append((k, saved[k], expected))
    union = len(set(sig.keys) | set(saved))
    score = (len(common) - len(mismatched)) / union if union else 0.0
    return ArchMatch(
        arch=sig.arch, task=sig.task, form=sig.form, score=round(score, 4), requested=requested,
        prefix=prefix,
        missing=tuple(k for k in sig.keys if k not in saved),
        unexpected=tuple(k for k in saved if k not in sig.keys),
        mismatched=tuple(mismatched),
        head=sig.head, head_size=head_size if head_size is not None else sig.head_default,
        head_default=sig.head_default,
        head_offset=max((offset for dims in sig.head_dims.values() for _, offset in dims), default=0),
    )


def _expected(sig: Signature, key: str, head_size: int | None) -> tuple[int, ...]:
    shape = list(sig.keys[key])
    if head_size is not None:
        for dim, offset in sig.head_dims.get(key, ()):
            shape[dim] = head_size + offset
    return tuple(shape)


# --- the table --------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _table() -> dict:
    path = Path(__file__).resolve().parent.parent / "data" / "architectures.json"
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def signatures() -> tuple[Signature, ...]:
    vocabs = [v["text"] for v in _table()["vocabs"]]
    return tuple(_from_json(entry, vocabs) for entry in _table()["signatures"])


def _from_json(entry: dict, vocabs: list[str]) -> Signature:
    return Signature(
        arch=entry["arch"], task=entry["task"], form=entry["form"],
        keys={k: tuple(v) for k, v in entry["keys"].items()},
        head=entry["head"], head_default=entry["head_default"],
        head_dims={k: tuple(tuple(d) for d in v) for k, v in entry["head_dims"].items()},
        releases=tuple(entry["releases"]),
        default_vocabs={r: vocabs[int(i)] for i, rs in entry.get("default_vocabs", {}).items() for r in rs},
    )


def all_releases() -> tuple[str, ...]:
    """Every docTR release the table covers, oldest first."""
    return tuple(_table()["releases"])


@cache
def release_vocabs(release: str) -> dict[str, str]:
    """The named vocabularies docTR `release` ships (doctr.datasets.VOCABS)."""
    return {name: v["text"] for v in _table()["vocabs"] for name, rs in v["names"].items() if release in rs}


def releases_of(arch: str, form: str | None = None) -> tuple[str, ...]:
    found = {r for s in signatures() if s.arch == arch and (form is None or s.form == form) for r in s.releases}
    return tuple(r for r in all_releases() if r in found)


def default_vocab(arch: str, release: str) -> str | None:
    """The vocabulary `arch` is built with by default in `release` (None: not a recognizer there)."""
    return next((s.default_vocabs[release] for s in signatures() if s.arch == arch and release in s.default_vocabs),
                None)


def default_head(arch: str, form: str, release: str | None) -> int | None:
    return next((s.head_default for s in signatures() if s.arch == arch and s.form == form and release in s.releases),
                None)


@lru_cache(maxsize=1)
def reference_release() -> tuple[str, bool]:
    """(release, installed): the installed docTR's release in the table (the same, or the nearest older
    one), or the newest release when docTR is not installed."""
    from .versions import installed, parse

    version = installed("doctr")
    known = all_releases()
    if version is None:
        return known[-1], False
    older = [r for r in known if parse(r) <= parse(version)]
    return (older[-1] if older else known[0]), True


def release_range(releases: Iterable[str]) -> str:
    """'0.7.0-0.12.0', '1.0.0-1.1.0', or '0.7.0' for the releases given (a contiguous run, mostly)."""
    ordered = [r for r in all_releases() if r in set(releases)]
    if not ordered:
        return "none"
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"


def _newest(releases: Iterable[str]) -> str:
    order = {r: i for i, r in enumerate(all_releases())}
    return max(releases, key=lambda r: order.get(r, -1), default="")


@lru_cache(maxsize=1)
def _largest_signature() -> int:
    return max(len(s.keys) for s in signatures())


@lru_cache(maxsize=1)
def _key_index() -> dict[str, tuple[int, ...]]:
    index: dict[str, list[int]] = {}
    for i, sig in enumerate(signatures()):
        for key in sig.keys:
            index.setdefault(key, []).append(i)
    return {k: tuple(v) for k, v in index.items()}


def arch_names() -> list[str]:
    """Every architecture of any covered release (`--arch` accepts them all)."""
    return sorted({s.arch for s in signatures()})


def arch_task(arch: str) -> str | None:
    """detection, recognition or classification (docTR's orientation classifiers), from the table."""
    return next((s.task for s in signatures() if s.arch == arch), None)


def table_info() -> dict:
    return {"releases": list(all_releases()), "reference": reference_release()[0]}


def merge(raw: list[dict]) -> dict:
    """One table from each release's extract(): identical signatures and vocabularies stored once."""
    releases = sorted((r["doctr_version"] for r in raw), key=lambda v: tuple(int(p) for p in v.split(".")))
    texts: dict[str, dict[str, list[str]]] = {}
    for r in raw:
        for name, text in r["vocabs"].items():
            texts.setdefault(text, {}).setdefault(name, []).append(r["doctr_version"])
    signatures_: dict[str, dict] = {}
    for r in sorted(raw, key=lambda r: releases.index(r["doctr_version"])):
        for e in r["architectures"]:
            default = e.pop("default")
            e["head_default"] = len(default) if default is not None else None
            key = json.dumps([e[k] for k in ("arch", "task", "form", "head", "head_default", "head_dims", "keys")])
            sig = signatures_.setdefault(key, {**e, "releases": [], "default_vocabs": {}})
            sig["releases"].append(r["doctr_version"])
            if e["task"] == "recognition" and isinstance(default, str):
                texts.setdefault(default, {})
                sig["default_vocabs"].setdefault(default, []).append(r["doctr_version"])
    order = list(texts)
    for sig in signatures_.values():
        sig["default_vocabs"] = {str(order.index(t)): rs for t, rs in sig["default_vocabs"].items()}
    return {"releases": releases, "vocabs": [{"text": t, "names": names} for t, names in texts.items()],
            "signatures": [{k: sig[k] for k in ("arch", "task", "form", "releases", "head", "head_default",
                                                "default_vocabs", "head_dims", "keys")}
                           for sig in signatures_.values()]}


def dumps(table: dict) -> str:
    """Stable JSON: one architecture per block, one key per line, so diffs read well."""
    text = json.dumps(table, indent=1, ensure_ascii=False)
    return re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"
