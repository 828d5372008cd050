"""Checking files from Python: the same Report the CLI renders."""

from __future__ import annotations

import fnmatch
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import registry as registry_module
from .architectures import arch_names
from .config import Settings
from .engine import run_rules
from .findings import Report, TargetResult
from .inspect.checkpoint import inspect_checkpoint
from .registry import Registry, RegistryError, Rule, is_enabled

COLLECTED_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".onnx")  # what a folder contributes


class UsageError(Exception):
    """The run itself cannot start (missing path, unknown rule or architecture): exit 2."""


def collect(paths: Iterable[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Path]:
    """Files as given; folders searched recursively, sorted, filtered by the globs; each file once.

    Globs match a file's path relative to the folder given (or its name). Without include
    globs a folder contributes its checkpoint files (*.pt, *.pth, *.bin, *.ckpt, *.safetensors) and ONNX exports (*.onnx).
    """
    found: list[Path] = []
    used: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = [p for p in sorted(path.rglob("*")) if p.is_file() and _wanted(p, path, include, exclude, used)]
            if not inside:
                what = ", ".join(include) if include else ", ".join("*" + s for s in COLLECTED_SUFFIXES)
                raise UsageError(f"no checkpoint files ({what}) in {path}")
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f"path not found: {path}")
    unmatched = [g for g in include if g not in used]
    if unmatched:
        raise UsageError(f"include glob '{unmatched[0]}' matched no file")
    return _unique(found)


def _wanted(path: Path, folder: Path, include: Sequence[str], exclude: Sequence[str], used: set[str]) -> bool:
    rel = path.relative_to(folder).as_posix()
    if any(_glob(rel, g) for g in exclude):
        return False
    if not include:
        return path.suffix.lower() in COLLECTED_SUFFIXES
    hits = [g for g in include if _glob(rel, g)]
    used.update(hits)
    return bool(hits)


def _glob(rel: str, pattern: str) -> bool:
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)


def _unique(paths: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique = []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def select_rules(settings: Settings, target: str = "checkpoint", registry: Registry | None = None) -> tuple[Registry, list[Rule]]:
    """The enabled rules, with per-rule severity overrides applied; bad codes are usage errors."""
    reg = (registry or registry_module.default).load()
    try:
        rules = reg.select(settings.select, settings.ignore, target=target)
        reg.validate_prefixes([*settings.severity, *(c for codes in settings.per_path_ignores.values() for c in codes)])
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    return reg, [replace(r, severity=settings.severity[r.code]) if r.code in settings.severity else r for r in rules]


def check_paths(paths: Iterable[str | Path], *, arch: str | None = None, settings: Settings | None = None,
                registry: Registry | None = None, **overrides) -> Report:
    """Inspect and check every checkpoint under `paths` (overrides: any Settings field)."""
    settings = (settings or Settings()).merged(**overrides)
    files = collect(paths, settings.include, settings.exclude)
    return check_files(files, arch=arch, settings=settings, registry=registry)


def check_path(path: str | Path, **options) -> Report:
    """`ocrdoctor check PATH` from Python."""
    return check_paths([path], **options)


def check_files(files: Sequence[Path], *, arch: str | None = None, settings: Settings | None = None,
                registry: Registry | None = None, on_done: Callable[[Path], None] | None = None) -> Report:
    """Check files (in parallel with settings.jobs); results keep the order of `files`."""
    settings = settings or Settings()
    if arch is not None and arch not in arch_names():
        raise UsageError(f"unknown architecture '{arch}' (known: {', '.join(arch_names())})")
    reg, rules = select_rules(settings, "checkpoint", registry)
    rules += select_rules(settings, "onnx", reg)[1]  # check_file keeps those of the file's kind
    _, model_rules = select_rules(settings, "model", reg) if arch else (reg, [])

    def one(path: Path) -> list[TargetResult]:
        result = check_file(path, [r for r in rules if not path_ignores(path, r.code, settings)], arch)
        results = [result]
        if arch and model_rules and not is_onnx(path):
            results.append(check_built(path, arch, [r for r in model_rules if not path_ignores(path, r.code, settings)]))
        if on_done:
            on_done(path)
        return results

    if settings.jobs == 1 or len(files) < 2:
        targets = [t for p in files for t in one(p)]
    else:
        with ThreadPoolExecutor(max_workers=settings.jobs or None) as pool:
            targets = [t for ts in pool.map(one, files) for t in ts]
    return Report(tuple(targets), errors=tuple(reg.plugin_errors))


def check_built(path: Path, arch: str, rules: list[Rule]) -> TargetResult:
    """The model rules on the docTR model built from the file, as it would be deployed."""
    from .build import BuildError, build_model
    from .findings import Skipped
    from .inspect.model import inspect_model

    target = f"{path} as {arch}"
    start = time.perf_counter()
    try:
        facts = inspect_model(build_model(path, arch), name="model")
    except BuildError as exc:
        skipped = tuple(Skipped(r.code, r.name, target, str(exc)) for r in rules)
        return TargetResult(target, "model", {}, skipped=skipped, rules=tuple((r.code, r.name) for r in rules))
    result = run_rules(rules, facts, target=target, kind="model", summary=facts.summary())
    return replace(result, seconds=time.perf_counter() - start)


def check_deployment(det: Path, det_arch: str, reco: Path, reco_arch: str, *, device: str = "cpu",
                     half: bool = False, settings: Settings | None = None, registry: Registry | None = None) -> Report:
    """Both checkpoints, then the predictor built from them as a deployment builds it, then the machine."""
    from .build import BuildError, build_predictor

    for name in (det_arch, reco_arch):
        if name not in arch_names():
            raise UsageError(f"unknown architecture '{name}' (known: {', '.join(arch_names())})")
    settings = settings or Settings()
    files = check_files([Path(det), Path(reco)], settings=settings, registry=registry)
    try:
        predictor = build_predictor(det, det_arch, reco, reco_arch, device=device, half=half)
    except BuildError as exc:
        raise UsageError(str(exc)) from None
    deployed = diagnose(predictor, settings=settings, registry=registry)
    return Report(files.targets + deployed.targets, errors=files.errors)


def path_ignores(path: Path, code: str, settings: Settings) -> bool:
    """Whether a per-path-ignores glob (relative to the config file's folder) turns `code` off."""
    if not settings.per_path_ignores:
        return False
    rel = path.resolve()
    if settings.root is not None and rel.is_relative_to(settings.root):
        rel = rel.relative_to(settings.root)
    texts = {rel.as_posix(), path.as_posix()}
    return any(
        any(_glob(text, glob) for text in texts) and not is_enabled(code, [], list(codes))
        for glob, codes in settings.per_path_ignores.items()
    )


def is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def check_file(path: Path, rules: list[Rule], arch: str | None = None) -> TargetResult:
    """One file's facts (an ONNX export by its suffix, otherwise a checkpoint) through `rules`."""
    start = time.perf_counter()
    if is_onnx(path):
        from .inspect.onnx import inspect_onnx

        facts, kind = inspect_onnx(path), "onnx"
    else:
        facts, kind = inspect_checkpoint(path, arch), "checkpoint"
    result = run_rules([r for r in rules if r.target == kind], facts, target=str(path), kind=kind,
                       summary=facts.summary())
    return replace(result, seconds=time.perf_counter() - start)


def check_environment(*, settings: Settings | None = None, registry: Registry | None = None,
                      facts=None, **overrides) -> Report:
    """The OD3xx rules over this machine (or over `facts`, e.g. a GPU host's, for a test)."""
    from .inspect.environment import inspect_environment

    settings = (settings or Settings()).merged(**overrides)
    reg, rules = select_rules(settings, "environment", registry)
    start = time.perf_counter()
    facts = facts if facts is not None else inspect_environment()
    result = run_rules(rules, facts, target="environment", kind="environment", summary=facts.summary())
    return Report((replace(result, seconds=time.perf_counter() - start),), errors=tuple(reg.plugin_errors))


def diagnose(obj, *, environment: bool = True, settings: Settings | None = None, registry: Registry | None = None,
             **overrides) -> Report:
    """The OD2xx rules on a live docTR predictor or torch module (and OD3xx on this machine).

    Reads devices, dtypes and modes only: no weight is copied or moved. Raises
    ocrdoctor.inspect.model.NotAModel, with a one-line message, for what cannot be diagnosed.
    """
    from .inspect.model import inspect_model

    settings = (settings or Settings()).merged(**overrides)
    reg, rules = select_rules(settings, "model", registry)
    start = time.perf_counter()
    facts = inspect_model(obj)
    model = run_rules(rules, facts, target=facts.target, kind="model", summary=facts.summary())
    targets = [replace(model, seconds=time.perf_counter() - start)]
    if environment:
        targets += check_environment(settings=settings, registry=reg).targets
    return Report(tuple(targets), errors=tuple(reg.plugin_errors))
