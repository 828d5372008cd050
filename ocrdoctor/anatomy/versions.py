"""Installed versions, read from package metadata without importing the packages (no torch import)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache

DISTRIBUTIONS = {"torch": "torch", "torchvision": "torchvision", "doctr": "python-doctr", "numpy": "numpy",
                 "onnxruntime": "onnxruntime"}


@cache
def installed(package: str) -> str | None:
    """The installed version of `package` (torch, doctr, numpy, ...), or None."""
    name = DISTRIBUTIONS.get(package, package)
    found = _dist_info().get(_normalized(name))
    if found is not None:
        return found
    if package in DISTRIBUTIONS:  # a package ocrdoctor uses: not importable means not installed, for every use here
        import importlib.util

        if importlib.util.find_spec(package) is None:
            return None
    import importlib.metadata  # the general answer (eggs, zips, custom finders): 20-40 ms, so only when needed

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def _dist_info() -> dict[str, str]:
    """{normalized name: version} from the `<name>-<version>.dist-info` folders on sys.path (PEP 376, 427),
    the first of a name winning as importlib.metadata's path order does."""
    import os
    import sys

    found: dict[str, str] = {}
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in names:
            stem = entry[:-len(".dist-info")] if entry.endswith(".dist-info") else ""
            if stem.count("-") == 1:
                dist, version = stem.split("-")
                found.setdefault(_normalized(dist), version)
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def parse(version: str | None) -> tuple[int, ...]:
    """'2.14.1+cu130' -> (2, 14, 1); unparseable parts count as 0."""
    if not version:
        return ()
    return tuple(int(part) if part.isdigit() else 0 for part in re.split(r"[.+-]", version.lstrip("v"))[:3])


def at_least(package: str, minimum: str) -> bool:
    found = installed(package)
    return found is not None and parse(found) >= parse(minimum)


class Installed(Mapping[str, str]):
    """The versions a printed fix must fit ({"torch": "2.14.1", ...}), looked up only when a fix asks."""

    NAMES = ("torch", "torchvision", "doctr", "numpy")

    def __getitem__(self, name: str) -> str:
        found = installed(name) if name in self.NAMES else None
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return (n for n in self.NAMES if installed(n))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"Installed({dict(self)})"


FAST_FUSION_FIXED = (0, 9)
FAST_FUSION_UNSOUND = ("docTR 0.8's FAST reparameterize changes the model's outputs (measured: probabilities move by "
                       "up to 1.0; fixed in docTR 0.9)")


def fast_fusion_sound() -> bool:
    """Whether the installed docTR's FAST `reparameterize` keeps the outputs: not in 0.8.x, so nothing fuses there."""
    return parse(installed("doctr")) >= FAST_FUSION_FIXED
