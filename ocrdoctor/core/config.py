"""Settings from `[tool.ocrdoctor]` in pyproject.toml (or a --config file), then CLI flags.

Keys are the CLI's long options: select, ignore, fail-on, severity (per-rule overrides),
per-path-ignores, include, exclude, jobs, format (check's default output), values, timeout,
trusted-globals (the team's own module classes, `mypkg.models.*`, accepted in a pickled model), and
the reader's limits (`[tool.ocrdoctor.limits]`, checked against the reader's table when a file is
read; `--no-limits` lifts them). Unknown keys and wrong types are errors, because a typo in a CI
gate's config must not silently turn a check off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .findings import Severity
from .formats import format_names


class ConfigError(Exception):
    """The configuration file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: Severity = Severity.ERROR
    severity: Mapping[str, Severity] = field(default_factory=dict)
    per_path_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    include: tuple[str, ...] = ()  # globs; empty means the checkpoint suffixes
    trusted_globals: tuple[str, ...] = ()  # fnmatch patterns of module.qualname trusted as pickled modules (OD102)
    exclude: tuple[str, ...] = ()
    jobs: int = 1
    format: str | None = None  # check's output format when --format is not given
    limits: Mapping[str, int] = field(default_factory=dict)  # overrides of the reader's limits (OD125)
    no_limits: bool = False  # --no-limits: read a genuine giant whole
    values: str | None = None  # "all" | "none": read tensor values (default: all locally, none remotely)
    timeout: float | None = None  # seconds one remote request may take (read.remote.TIMEOUT when None)
    root: Path | None = None  # the config file's folder: per-path globs are relative to it
    source: str | None = None  # which file the settings came from

    def merged(self, **overrides) -> Settings:
        """CLI values override the file's; None (flag not given) keeps the file's value."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in known and v is not None})


_KEYS = {
    "select": "list", "ignore": "list", "fail-on": "severity", "severity": "table",
    "per-path-ignores": "table", "include": "list", "exclude": "list", "trusted-globals": "list", "jobs": "int",
    "limits": "table",
    "format": "format", "values": "values", "timeout": "seconds",
}
VALUES = ("all", "none")


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.ocrdoctor] table, from `start` upwards."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "ocrdoctor" in _read(candidate).get("tool", {}):
            return candidate
    return None


def load_settings(explicit: Path | None = None, start: Path | None = None) -> Settings:
    path = explicit if explicit is not None else find_config((start or Path.cwd()).resolve())
    if path is None:
        return Settings()
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    data = _read(path)
    table = data.get("tool", {}).get("ocrdoctor") if "tool" in data else data
    if table is None:
        table = {}
    return _parse(table, path)


def _read(path: Path) -> dict:
    try:  # imported here: a check run from a folder without a pyproject.toml never needs it
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def _parse(table: dict, path: Path) -> Settings:
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' in [tool.ocrdoctor] (known: {', '.join(sorted(_KEYS))})")
    values: dict = {"root": path.parent.resolve(), "source": str(path)}
    for key, value in table.items():
        kind = _KEYS[key]
        where = f"{path}: '{key}'"
        if kind == "list":
            values[key.replace("-", "_")] = _strings(value, where)
        elif kind == "severity":
            values["fail_on"] = _severity(value, where)
        elif kind == "format":
            if value not in format_names():
                raise ConfigError(f"{where} must be one of {', '.join(format_names())}")
            values["format"] = value
        elif kind == "values":
            if value not in VALUES:
                raise ConfigError(f"{where} must be one of {', '.join(VALUES)}")
            values["values"] = value
        elif kind == "seconds":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{where} must be a number of seconds > 0")
            values["timeout"] = float(value)
        elif kind == "int":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where} must be a whole number >= 0")
            values["jobs"] = value
        elif key == "limits":
            values["limits"] = {k: _positive(v, f"{where}.{k}") for k, v in _table(value, where).items()}
        elif key == "severity":
            values["severity"] = {_code(k): _severity(v, f"{where}.{k}") for k, v in _table(value, where).items()}
        else:
            values["per_path_ignores"] = {g: _strings(v, f"{where}.{g}") for g, v in _table(value, where).items()}
    return Settings(**values)


def _strings(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(v.strip() for v in value)


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _severity(value, where: str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise ConfigError(f"{where} must be one of error, warning, info (got {value!r})") from None


def _positive(value, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where} must be a whole number >= 1")
    return value


def _code(value: str) -> str:
    return value.strip().upper()
