"""How much one file may make the reader do: one table, far above any real checkpoint (OD125).

A file built to exhaust a reader (a million directory entries, a deflate bomb, 200,000 tensors
over one storage, gigabytes of `bytearray`) is stopped at the first limit it passes and reported
as OD125, with what and how big; it is never fully materialised. The largest real checkpoints
(multi-billion-parameter language models, shard by shard) stay orders of magnitude below each
limit. `[tool.ocrdoctor.limits]` overrides any of them and `--no-limits` lifts them all for a
genuine giant.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# name: (limit, what it counts). The checks name the limit and how far past it the file went.
TABLE: dict[str, tuple[int, str]] = {
    "entries": (200_000, "zip directory entries, tar members, storages or safetensors tensors in one file"),
    "records": (500_000, "tensor records and rebuilt objects in one file's pickles"),
    "shared": (20_000, "tensors viewing one storage"),
    "globals": (20_000, "distinct globals one file's pickles name"),
    "elements": (1 << 36, "elements one tensor claims"),
    "inflated": (1 << 30, "bytes one compressed archive member inflates to"),
    "materialised": (1 << 28,
                     "bytes the pickles ask the reader to build (bytearray, encoded strings, inflated members)"),
    "nesting": (10_000, "levels of nested containers"),
    "overlap": (4, "times its storage's size that the tensors viewing one storage read together"),
}


@dataclass(frozen=True)
class Limits:
    entries: int | None = TABLE["entries"][0]
    records: int | None = TABLE["records"][0]
    shared: int | None = TABLE["shared"][0]
    globals: int | None = TABLE["globals"][0]
    elements: int | None = TABLE["elements"][0]
    inflated: int | None = TABLE["inflated"][0]
    materialised: int | None = TABLE["materialised"][0]
    nesting: int | None = TABLE["nesting"][0]
    overlap: int | None = TABLE["overlap"][0]

    @classmethod
    def none(cls) -> Limits:
        """No limit at all (`--no-limits`)."""
        return cls(**{f.name: None for f in fields(cls)})

    def merged(self, overrides: dict[str, int]) -> Limits:
        unknown = sorted(set(overrides) - set(TABLE))
        if unknown:
            raise ValueError(f"unknown limit {unknown[0]!r} (known: {', '.join(TABLE)})")
        bad = [k for k, v in overrides.items() if not isinstance(v, int) or isinstance(v, bool) or v < 1]
        if bad:
            raise ValueError(f"limit {bad[0]!r} must be a positive whole number")
        return replace(self, **overrides)

    def check(self, name: str, amount: int) -> None:
        """Raise Hostile when `amount` passes the limit called `name`."""
        limit = getattr(self, name)
        if limit is not None and amount > limit:
            raise Hostile(name, amount, limit)


DEFAULT = Limits()


class Hostile(Exception):
    """A file passed a limit: what, how much and the limit (the message of OD125)."""

    def __init__(self, name: str, amount: int, limit: int, detail: str = ""):
        self.name, self.amount, self.limit = name, amount, limit
        what = TABLE[name][1]
        super().__init__(f"{_count(amount)} {what}{detail} (limit {_count(limit)}, `{name}`)")


def _count(n: int) -> str:
    if n >= 1 << 30 and n % (1 << 20) == 0 or n >= 1 << 34:
        return f"{n / (1 << 30):,.1f} Gi" if n < 1 << 40 else f"2^{n.bit_length() - 1}"
    return f"{n:,}"
