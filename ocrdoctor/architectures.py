"""Which docTR architecture a state_dict belongs to, without importing docTR.

The signature table (`data/architectures.json`) holds every docTR detection and recognition
architecture's state_dict keys and shapes, FAST in both its training and reparameterized
forms, and which dimensions grow with the vocabulary or the number of classes. It is
generated from the installed docTR (`python -m ocrdoctor.architectures`); a test regenerates
it and fails when docTR drifts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping

THRESHOLD = 0.6  # share of keys (with compatible shapes) needed to call an architecture identified
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
_ALT_VOCAB = "abcde"
_ALT_CLASSES = ["c0", "c1", "c2"]


@dataclass(frozen=True)
class Signature:
    arch: str
    task: str  # detection | recognition
    form: str  # standard | training | reparameterized
    keys: Mapping[str, tuple[int, ...]]
    head: str | None  # "vocab" or "classes": what the head dims count
    head_default: int | None
    head_dims: Mapping[str, tuple[tuple[int, int], ...]]  # key -> (dim, offset): size = count + offset


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
    head_default: int | None

    @property
    def identified(self) -> bool:
        return self.requested or self.score >= THRESHOLD

    @property
    def custom_head(self) -> bool:
        return self.head_size is not None and self.head_size != self.head_default

    def describe(self) -> str:
        text = f"{self.arch} ({self.task}"
        if self.form != "standard":
            text += f", {self.form} form"
        if self.custom_head:
            text += f", {self.head} of {self.head_size}"
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
    so the cost follows the file's keys, not the number of signatures.
    """
    if requested is None and len(shapes) > 10 * _largest_signature():
        return None  # even a full match of the largest architecture would cover under 10% of the keys
    prefix = strip_wrappers(list(shapes))
    saved = {k[len(prefix):]: tuple(v) for k, v in shapes.items()}
    if requested is not None:
        candidates = [s for s in signatures() if s.arch == requested]
    else:
        index, table = _key_index(), signatures()
        hits = {i for k in saved for i in index.get(k, ())}
        candidates = [table[i] for i in sorted(hits)]
    matches = [compare(s, saved, prefix, requested is not None) for s in candidates]
    matches = [m for m in matches if m.requested or m.score > 0]
    return max(matches, key=lambda m: m.score, default=None)


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
    )


def _expected(sig: Signature, key: str, head_size: int | None) -> tuple[int, ...]:
    shape = list(sig.keys[key])
    if head_size is not None:
        for dim, offset in sig.head_dims.get(key, ()):
            shape[dim] = head_size + offset
    return tuple(shape)


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
    return sorted({s.arch for s in signatures()})


@lru_cache(maxsize=1)
def signatures() -> tuple[Signature, ...]:
    text = resources.files("ocrdoctor").joinpath("data/architectures.json").read_text()
    return tuple(_from_json(entry) for entry in json.loads(text)["architectures"])


def table_info() -> dict:
    text = resources.files("ocrdoctor").joinpath("data/architectures.json").read_text()
    return {k: v for k, v in json.loads(text).items() if k != "architectures"}


def _from_json(entry: dict) -> Signature:
    return Signature(
        arch=entry["arch"], task=entry["task"], form=entry["form"],
        keys={k: tuple(v) for k, v in entry["keys"].items()},
        head=entry["head"], head_default=entry["head_default"],
        head_dims={k: tuple(tuple(d) for d in v) for k, v in entry["head_dims"].items()},
    )


# --- generation from the installed docTR (slow: imports docTR and builds every model) ---

def generate() -> dict:
    """Build every docTR architecture and record its state_dict signature."""
    import doctr
    from doctr.models import detection, recognition
    from doctr.models.detection.fast import reparameterize

    entries = []
    for task, zoo, head, alt in (
        ("detection", detection, "classes", {"class_names": _ALT_CLASSES}),
        ("recognition", recognition, "vocab", {"vocab": _ALT_VOCAB}),
    ):
        for arch in zoo.zoo.ARCHS:
            build = getattr(zoo, arch)
            model = build(pretrained=False, pretrained_backbone=False)
            other = build(pretrained=False, pretrained_backbone=False, **alt)
            default_count = len(model.class_names if task == "detection" else model.vocab)
            alt_count = len(_ALT_CLASSES if task == "detection" else _ALT_VOCAB)
            form = "training" if arch.startswith("fast") else "standard"
            entries.append(_entry(arch, task, form, model, other, head, default_count, alt_count))
            if arch.startswith("fast"):  # reparameterize() changes the model in place
                fused, fused_other = reparameterize(model), reparameterize(other)
                entries.append(_entry(arch, task, "reparameterized", fused, fused_other, head, default_count, alt_count))
    return {"doctr_version": doctr.__version__, "architectures": entries}


def _entry(arch, task, form, model, other, head, default_count, alt_count) -> dict:
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    alt_keys = {k: list(v.shape) for k, v in other.state_dict().items()}
    head_dims: dict[str, list[list[int]]] = {}
    for k, shape in keys.items():
        for dim, (a, b) in enumerate(zip(shape, alt_keys.get(k, shape))):
            if a != b and a - default_count == b - alt_count:
                head_dims.setdefault(k, []).append([dim, a - default_count])
    return {
        "arch": arch, "task": task, "form": form, "head": head if head_dims else None,
        "head_default": default_count if head_dims else None, "head_dims": head_dims, "keys": keys,
    }


def dumps(table: dict) -> str:
    """Stable JSON: one architecture per block, one key per line, so diffs read well."""
    text = json.dumps(table, indent=1)
    return re.sub(r"\[\s+([^\[\]]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text) + "\n"


if __name__ == "__main__":  # python -m ocrdoctor.architectures > ocrdoctor/data/architectures.json
    import sys

    sys.stdout.write(dumps(generate()))
