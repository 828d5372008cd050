"""Shape mismatches that are a constructor argument, not other weights: a PARSeq trained with `max_length=40`
holds 41 positional queries where the default model has 33 (mindee/doctr#1478). Read from the mismatched
shapes alone; the message names the hyperparameter and the call that builds a model the weights fit."""

from __future__ import annotations

from typing import NamedTuple


class Hyper(NamedTuple):
    key: str  # the tensor whose shape carries it
    dim: int
    name: str  # the constructor argument
    offset: int  # size = value + offset


# docTR 1.1's recognizers whose `max_length` sizes a saved tensor (ViTSTR and SAR save none).
TABLE = {
    "parseq": (Hyper("pos_queries", 1, "max_length", 1),),
    "master": (Hyper("decoder.positional_encoding.pe", 1, "max_length", 0),),
}


def hyperparameters(arch: str, mismatched) -> dict[str, int] | None:
    """{argument: value} when every shape mismatch is explained by one value per argument, else None."""
    known = {h.key: h for h in TABLE.get(arch, ())}
    found: dict[str, int] = {}
    for key, saved, expected in mismatched:
        h = known.get(key)
        if h is None or len(saved) != len(expected) or any(
                s != e for i, (s, e) in enumerate(zip(saved, expected, strict=True)) if i != h.dim):
            return None
        value = saved[h.dim] - h.offset
        if found.setdefault(h.name, value) != value:
            return None
    return found or None


def constructor(arch: str, values: dict[str, int]) -> str:
    """The docTR call that builds a model these weights load into."""
    args = ", ".join(f"{k}={v}" for k, v in values.items())
    return f"from doctr.models import {arch}\nmodel = {arch}(pretrained=False, pretrained_backbone=False, {args})"
