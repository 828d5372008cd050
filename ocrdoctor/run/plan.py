"""Building a plan: the settings (a config file and the options given), the rules of the kinds a run
checks, and the reader's limits. The CLI and the Python functions build theirs here, the same way."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path

from ..core.config import ConfigError, Settings, load_settings
from ..core.engine import UsageError
from ..core.findings import Severity
from ..core.plan import Plan, make_plan
from ..core.registry import Registry

FILE_KINDS = ("checkpoint", "onnx")  # what a check of paths may meet


def file_kinds(arch: str | None = None, targets=None) -> tuple[str, ...]:
    """The kinds a check of paths meets: checkpoints, ONNX exports when one is among `targets` (their rules and
    inspector are imported only then), and the model built from each file with `--arch`."""
    kinds = FILE_KINDS if targets is None or any(t.kind == "onnx" for t in targets) else ("checkpoint",)
    return (*kinds, "model") if arch else kinds


def plan_for(settings: Settings, kinds: Iterable[str], registry: Registry | None = None) -> Plan:
    """The plan of a run over targets of `kinds`: rules selected once, the reader's limits resolved."""
    from .loop import check_gathered

    return make_plan(settings, kinds, registry, limits=reader_limits(settings), checker=check_gathered)


def reader_limits(settings: Settings):
    """The reader's limits for a run: the table, `[tool.ocrdoctor.limits]` over it, or none (`--no-limits`)."""
    from ..read.limits import DEFAULT, Limits

    if settings.no_limits:
        return Limits.none()
    if not settings.limits:
        return DEFAULT
    try:
        return DEFAULT.merged(dict(settings.limits))
    except ValueError as exc:
        raise ConfigError(f"{settings.source or 'settings'}: [tool.ocrdoctor.limits]: {exc}") from None


def settings_for(caller: str, options: dict, config: str | Path | None = None,
                 settings: Settings | None = None) -> Settings:
    """Settings for a Python call, exactly as the CLI makes them: the config file named (none read without one),
    then the options under their Python names, given as the CLI takes them (codes as a comma-separated string
    or a list, a severity by name); an unknown option is a TypeError."""
    known = {f.name for f in fields(Settings)} - {"root", "source"}  # where a config file was found: not options
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    if settings is None:
        settings = load_settings(Path(config)) if config is not None else Settings()
    values = dict(options)
    for name in ("select", "ignore"):
        if values.get(name) is not None:
            values[name] = tuple(codes(values[name]))
    for name in ("include", "exclude", "trusted_globals"):
        if isinstance(values.get(name), (str, os.PathLike)):
            values[name] = (str(values[name]),)
    if values.get("fail_on") is not None:
        try:
            values["fail_on"] = Severity(values["fail_on"])
        except ValueError:
            raise UsageError(f"fail_on must be one of error, warning, info (got {values['fail_on']!r})") from None
    return settings.merged(**values)


def codes(values: str | Iterable[str]) -> list[str]:
    """'OD1,OD205' or ['OD1', 'OD205 '] -> ['OD1', 'OD205'], as --select and --ignore read them."""
    items = [values] if isinstance(values, str) else list(values)
    return [c.strip().upper() for v in items for c in str(v).split(",") if c.strip()]


def key_path(key: str | None) -> tuple | None:
    """`--key model.reco` as a key path; a malformed one is a usage error."""
    from ..inspect.weights import WeightsKeyError, parse_key

    if key is None:
        return None
    try:
        return parse_key(key)
    except WeightsKeyError as exc:
        raise UsageError(str(exc)) from None


def known_arch(name: str | None) -> None:
    """A usage error for an architecture docTR does not have."""
    from ..anatomy.architectures import arch_names

    if name is not None and name not in arch_names():
        raise UsageError(f"unknown architecture '{name}' (known: {', '.join(arch_names())})")
