"""Checking files from Python: the same Report the CLI renders."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable, Sequence

from . import registry as registry_module
from .architectures import arch_names
from .engine import run_rules
from .findings import Report, TargetResult
from .inspect.checkpoint import inspect_checkpoint
from .registry import Registry, RegistryError, Rule

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")


class UsageError(Exception):
    """The run itself cannot start (missing path, unknown rule or architecture): exit 2."""


def collect(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, folders searched recursively in sorted order; each file once."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
            if not inside:
                raise UsageError(f"no checkpoint files ({', '.join('*' + s for s in CHECKPOINT_SUFFIXES)}) in {path}")
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f"path not found: {path}")
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def select_rules(select: Sequence[str] = (), ignore: Sequence[str] = (), target: str = "checkpoint",
                 registry: Registry | None = None) -> tuple[Registry, list[Rule]]:
    reg = (registry or registry_module.default).load()
    try:
        return reg, reg.select(select, ignore, target=target)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None


def check_paths(paths: Iterable[str | Path], *, arch: str | None = None, select: Sequence[str] = (),
                ignore: Sequence[str] = (), registry: Registry | None = None) -> Report:
    """Inspect and check every checkpoint under `paths`."""
    if arch is not None and arch not in arch_names():
        raise UsageError(f"unknown architecture '{arch}' (known: {', '.join(arch_names())})")
    reg, rules = select_rules(select, ignore, "checkpoint", registry)
    targets = tuple(check_file(p, rules, arch) for p in collect(paths))
    return Report(targets, errors=tuple(reg.plugin_errors))


def check_path(path: str | Path, **options) -> Report:
    """`ocrdoctor check PATH` from Python."""
    return check_paths([path], **options)


def check_file(path: Path, rules: list[Rule], arch: str | None = None) -> TargetResult:
    start = time.perf_counter()
    facts = inspect_checkpoint(path, arch)
    result = run_rules(rules, facts, target=str(path), kind="checkpoint", summary=facts.summary())
    return _timed(result, time.perf_counter() - start)


def _timed(result: TargetResult, seconds: float) -> TargetResult:
    from dataclasses import replace

    return replace(result, seconds=seconds)
