"""Checking files from Python: the same Report the CLI renders.

`UsageError`, `select_rules` and `run_checkpoint_rules` live in `core.engine` and are named
here too, where scripts and plugins have imported them from.
"""

from __future__ import annotations

import contextlib

import os
import threading
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .anatomy.architectures import arch_names
from .core.config import ConfigError, Settings
from .core.engine import UsageError, not_read, run_checkpoint_rules, run_rules, select_rules, unreadable
from .core.findings import Report, Severity, TargetResult
from .inspect.checkpoint import CheckpointFacts, facts_of
from .read.checkpoint import Checkpoint, gc_paused, read_checkpoint
from .read.limits import DEFAULT as DEFAULT_LIMITS
from .read.limits import Limits
from .read.paths import SkippedPath, collect, matches  # noqa: F401  (the Python face names them)
from .read.remote import RemoteError, is_url
from .core.registry import Registry, Rule, is_enabled

def check_paths(paths: str | Path | Iterable[str | Path], *, arch: str | None = None, settings: Settings | None = None,
                registry: Registry | None = None, key: str | None = None, **options) -> Report:
    """`ocrdoctor check PATH...` from Python: a path or several. `options` are the CLI's (`fail_on="warning"`,
    `select="OD1"` or `["OD1", "OD205"]`, `ignore`, `include`, `exclude`, `jobs`, `no_limits`, `values`,
    `timeout`) and behave as there; an unknown one is a TypeError. `key` picks the weights inside each file
    (`model.reco`). Paths may be URLs (`https://`, `s3://`, `gs://`, `hf://`: the `remote` extra)."""
    settings = run_settings(settings, "check_paths", options)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files, skipped = collect(paths, settings.include, settings.exclude, settings.timeout)
    report = check_files(files, arch=arch, settings=settings, registry=registry, key=key_path(key))
    return replace(report, skipped=tuple(skipped))


def run_settings(settings: Settings | None, caller: str, options: dict) -> Settings:
    """Settings for a Python call: the CLI's options under their Python names, given as the CLI takes them
    (codes as a comma-separated string or a list, a severity by name); an unknown option is a TypeError."""
    known = {f.name for f in fields(Settings)} - {"root", "source"}  # where a config file was found: not options
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    values = dict(options)
    for name in ("select", "ignore"):
        if values.get(name) is not None:
            values[name] = tuple(codes(values[name]))
    for name in ("include", "exclude"):
        if isinstance(values.get(name), (str, os.PathLike)):
            values[name] = (str(values[name]),)
    if values.get("fail_on") is not None:
        try:
            values["fail_on"] = Severity(values["fail_on"])
        except ValueError:
            raise UsageError(f"fail_on must be one of error, warning, info (got {values['fail_on']!r})") from None
    return (settings or Settings()).merged(**values)


def codes(values: str | Iterable[str]) -> list[str]:
    """'OD1,OD205' or ['OD1', 'OD205 '] -> ['OD1', 'OD205'], as --select and --ignore read them."""
    items = [values] if isinstance(values, str) else list(values)
    return [c.strip().upper() for v in items for c in str(v).split(",") if c.strip()]


def key_path(key: str | None) -> tuple | None:
    """`--key model.reco` as a key path; a malformed one is a usage error."""
    from .inspect.weights import WeightsKeyError, parse_key

    if key is None:
        return None
    try:
        return parse_key(key)
    except WeightsKeyError as exc:
        raise UsageError(str(exc)) from None


def reader_limits(settings: Settings) -> Limits:
    """The reader's limits for a run: the table, `[tool.ocrdoctor.limits]` over it, or none (`--no-limits`)."""
    if settings.no_limits:
        return Limits.none()
    if not settings.limits:
        return DEFAULT_LIMITS
    try:
        return DEFAULT_LIMITS.merged(dict(settings.limits))
    except ValueError as exc:
        raise ConfigError(f"{settings.source or 'settings'}: [tool.ocrdoctor.limits]: {exc}") from None


def check_path(path: str | Path, **options) -> Report:
    """`ocrdoctor check PATH` from Python (options as for check_paths)."""
    return check_paths(path, **options)


def check_files(files: Sequence[Path], *, arch: str | None = None, settings: Settings | None = None,
                registry: Registry | None = None, on_done: Callable[[Path], None] | None = None,
                key: tuple | None = None, on_result: Callable[[TargetResult], None] | None = None) -> Report:
    """Check files and remote files (in parallel with settings.jobs); results keep the order of `files`.
    `on_result` sees each target's result as soon as it is done (`--format jsonl` streams them)."""
    settings = settings or Settings()
    if arch is not None and arch not in arch_names():
        raise UsageError(f"unknown architecture '{arch}' (known: {', '.join(arch_names())})")
    reg, rules = select_rules(settings, "checkpoint", registry)
    rules += select_rules(settings, "onnx", reg)[1]  # check_file keeps those of the file's kind
    _, model_rules = select_rules(settings, "model", reg) if arch else (reg, [])
    if not rules and not model_rules:
        raise UsageError(f"the selection ({_selection(settings)}) leaves no rule to run on files: a check would "
                         "pass whatever the files hold")
    limits = reader_limits(settings)

    def one(path: Path) -> list[TargetResult]:
        kept = [r for r in rules if not path_ignores(path, r.code, settings)]
        built = [r for r in model_rules if not path_ignores(path, r.code, settings)]
        values = settings.values == "all" if is_url(path) else settings.values != "none"
        results = check_file_and_model(path, kept, arch, built, key, limits, values, settings.timeout)
        if on_done:
            on_done(path)
        if on_result:
            with lock:
                for result in results:
                    on_result(result)
        return results

    lock = threading.Lock()  # on_result is called from the worker threads

    if settings.jobs == 1 or len(files) < 2:
        targets = [t for p in files for t in one(p)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=settings.jobs or None) as pool:
            targets = [t for ts in pool.map(one, files) for t in ts]
    return Report(tuple(targets), errors=tuple(reg.plugin_errors), fail_on=settings.fail_on)


def _selection(settings: Settings) -> str:
    parts = [f"--select {','.join(settings.select)}"] if settings.select else []
    parts += [f"--ignore {','.join(settings.ignore)}"] if settings.ignore else []
    return " ".join(parts) or "no rule installed"


def check_built(ckpt: Checkpoint, facts: CheckpointFacts, arch: str, rules: list[Rule]) -> TargetResult:
    """The model rules on the docTR model built from the checkpoint already read, as it would be deployed."""
    from .treat.build import BuildError, build_model, require_doctr

    target = f"{ckpt.path} as {arch}"
    start = time.perf_counter()
    try:
        require_doctr("the model rules of --arch")
        from .inspect.model import inspect_model

        model_facts = inspect_model(build_model(ckpt, arch, facts), name="model")
    except BuildError as exc:
        return not_built(target, str(exc), rules)
    result = run_rules(rules, model_facts, target=target, kind="model", summary=model_facts.summary())
    return replace(result, seconds=time.perf_counter() - start)


def not_built(target: str, reason: str, rules: list[Rule]) -> TargetResult:
    """A model that could not be built: every model rule skipped with the reason, and no "no problems found"."""
    return not_read(target, "model", reason, rules, key="not_built")


def check_deployment(det: Path | None = None, det_arch: str | None = None, reco: Path | None = None,
                     reco_arch: str | None = None, *, device: str = "cpu", half: bool = False, settings: Settings | None = None,
                     registry: Registry | None = None) -> Report:
    """The checkpoints (each read once, checked against its architecture), then the predictor built from
    those same reads as a deployment builds it, then the machine. A detector alone or a recognizer
    alone is a deployment too: that half's rules and the environment run."""
    from .treat.build import BuildError, build_predictor

    halves = {task: (path, arch) for task, path, arch in (("det", det, det_arch), ("reco", reco, reco_arch))
              if path is not None}
    if not halves:
        raise UsageError("a deployment needs a detection or a recognition checkpoint (or both)")
    kinds = {task: "onnx" if _sniffed(path) == "onnx" else "checkpoint" for task, (path, _) in halves.items()}
    if len(set(kinds.values())) > 1:
        raise UsageError("a deployment is PyTorch checkpoints or ONNX exports, not both: "
                         + ", ".join(f"--{task} is {'an ONNX export' if k == 'onnx' else 'a checkpoint'}"
                                     for task, k in kinds.items()))
    if "onnx" in kinds.values():
        return _check_onnx_deployment(halves, device=device, half=half, settings=settings or Settings(),
                                      registry=registry)
    for _, name in halves.values():
        if name not in arch_names():
            raise UsageError(f"unknown architecture '{name}' (known: {', '.join(arch_names())})")
    settings = settings or Settings()
    reg, rules = select_rules(settings, "checkpoint", registry)
    limits = reader_limits(settings)
    with contextlib.ExitStack() as stack:
        ckpts = {task: stack.enter_context(read_checkpoint(path, limits)) for task, (path, _) in halves.items()}
        done = {task: _checked(path, ckpts[task], arch, rules, settings) for task, (path, arch) in halves.items()}
        checked = list(done.values())
        facts = tuple(done[task][0] if task in done else None for task in ("det", "reco"))
        try:
            predictor = build_predictor(ckpts.get("det"), det_arch, ckpts.get("reco"), reco_arch, device=device,
                                        half=half, facts=facts)
        except BuildError as exc:
            if not any(f.severity is Severity.ERROR for _, r in checked for f in r.findings):
                raise UsageError(str(exc)) from None  # nothing in the files explains it: the run itself failed
            # the files' error findings say why (OD113, OD118, ...): exit 1, not a failed run
            model_rules = select_rules(settings, "model", reg)[1]
            target = not_built("the deployment's predictor", f"not built: {exc}", model_rules)
            environment = _environment(select_rules(settings, "environment", reg)[1])
            return Report(tuple(r for _, r in checked) + (target, environment),
                          errors=tuple(reg.plugin_errors), fail_on=settings.fail_on)
    deployed = diagnose(predictor, settings=settings, registry=reg)
    return Report(tuple(r for _, r in checked) + deployed.targets, errors=tuple(reg.plugin_errors),
                  fail_on=settings.fail_on)


def _checked(path: Path, ckpt: Checkpoint, arch: str | None, rules: list[Rule], settings: Settings
             ) -> tuple[CheckpointFacts, TargetResult]:
    """A checkpoint already read, through the checkpoint rules not ignored for its path."""
    start = time.perf_counter()
    with gc_paused():
        facts = facts_of(ckpt, arch)
        kept = [r for r in rules if r.target == "checkpoint" and not path_ignores(path, r.code, settings)]
        result = run_checkpoint_rules(kept, facts, str(path))
    return facts, replace(result, seconds=time.perf_counter() - start)


def path_ignores(path: Path, code: str, settings: Settings) -> bool:
    """Whether a per-path-ignores glob (relative to the config file's folder) turns `code` off."""
    if not settings.per_path_ignores:
        return False
    texts = {path.as_posix()}
    if not is_url(path):
        rel = path.resolve()
        if settings.root is not None and rel.is_relative_to(settings.root):
            rel = rel.relative_to(settings.root)
        texts.add(rel.as_posix())
    return any(
        any(matches(text, glob) for text in texts) and not is_enabled(code, [], list(codes))
        for glob, codes in settings.per_path_ignores.items()
    )


def is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def check_file(path: Path, rules: list[Rule], arch: str | None = None) -> TargetResult:
    """One file's facts (an ONNX export by its suffix, otherwise a checkpoint) through `rules`."""
    return check_file_and_model(path, rules, arch)[0]


def check_file_and_model(path: Path, rules: list[Rule], arch: str | None = None,
                         model_rules: Sequence[Rule] = (), key: tuple | None = None,
                         limits: Limits = DEFAULT_LIMITS, values: bool = True,
                         timeout: float | None = None) -> list[TargetResult]:
    """The file's rules; with `arch` and model rules, also the model built from the same read of the file.
    A remote file that cannot be read is one unreadable target (a run error), never a finding."""
    if is_url(path):
        try:
            return _checked_remote(path, rules, arch, model_rules, key, limits, values, timeout)
        except RemoteError as exc:
            return [unreadable(path, exc)]
    return _checked_file(path, rules, arch, model_rules, key, limits, values)


def _checked_remote(url, rules, arch, model_rules, key, limits, values, timeout) -> list[TargetResult]:
    """A remote file through the same rules; its facts say what reading it cost (bytes_read, requests)."""
    if is_onnx(url):
        return [not_read(str(url), "onnx", "an ONNX export is read whole by onnx: download it and check the copy",
                         [r for r in rules if r.target == "onnx"])]
    with read_checkpoint(url, limits, values, timeout) as ckpt:
        results = _checked_file(url, rules, arch, model_rules, key, limits, values, ckpt)
        ckpt.buffer.raise_failure()  # a read that failed inside the rules' reading is the network's, not the file's
        first = results[0]
        return [replace(first, summary={**first.summary, **ckpt.transfer.facts()}), *results[1:]]


def _checked_file(path, rules, arch, model_rules, key, limits, values, ckpt: Checkpoint | None = None
                  ) -> list[TargetResult]:
    start = time.perf_counter()
    if is_onnx(path):
        from .inspect.onnx import inspect_onnx

        facts = inspect_onnx(path)
        result = run_rules([r for r in rules if r.target == "onnx"], facts, target=str(path), kind="onnx",
                           summary=facts.summary())
        return [replace(result, seconds=time.perf_counter() - start)]
    with (contextlib.nullcontext(ckpt) if ckpt is not None else read_checkpoint(path, limits, values)) as ckpt, \
            gc_paused():  # 100,000 tensor facts, none of them cyclic
        facts = facts_of(ckpt, arch, key)
        result = run_checkpoint_rules([r for r in rules if r.target == "checkpoint"], facts, str(path))
        results = [replace(result, seconds=time.perf_counter() - start)]
        if arch and model_rules:
            results.append(check_built(ckpt, facts, arch, list(model_rules)))
    return results


def check_environment(*, settings: Settings | None = None, registry: Registry | None = None,
                      facts=None, **options) -> Report:
    """The OD3xx rules over this machine (or over `facts`, e.g. a GPU host's, for a test); options as for
    check_paths."""
    settings = run_settings(settings, "check_environment", options)
    reg, rules = select_rules(settings, "environment", registry)
    if not rules:
        raise UsageError(f"the selection ({_selection(settings)}) leaves no environment rule to run")
    return Report((_environment(rules, facts),), errors=tuple(reg.plugin_errors), fail_on=settings.fail_on)


def _environment(rules: list[Rule], facts=None) -> TargetResult:
    from .inspect.environment import inspect_environment

    start = time.perf_counter()
    facts = facts if facts is not None else inspect_environment()
    result = run_rules(rules, facts, target="environment", kind="environment", summary=facts.summary())
    return replace(result, seconds=time.perf_counter() - start)


def diagnose(obj, *, environment: bool = True, settings: Settings | None = None, registry: Registry | None = None,
             **options) -> Report:
    """The OD2xx rules on a live docTR predictor or torch module, the OD5xx rules on an OnnxTR predictor
    (and OD3xx on this machine); options as for check_paths.

    Reads devices, dtypes, modes and session settings only: no weight is copied or moved, no page
    is run. Raises ocrdoctor.inspect.model.NotAModel, with a one-line message, for what cannot be
    diagnosed, and ocrdoctor.build.MissingExtra (naming the extra to install) where torch is missing.
    """
    from .inspect.onnxtr import is_onnxtr

    settings = run_settings(settings, "diagnose", options)
    if is_onnxtr(obj):
        return _diagnose_onnxtr(obj, environment, settings, registry)
    from .treat.build import require_doctr

    require_doctr("ocrdoctor.diagnose", modules=("torch",))
    from .inspect.model import inspect_model

    reg, rules = select_rules(settings, "model", registry)
    env_rules = select_rules(settings, "environment", reg)[1] if environment else []
    if not rules and not env_rules:
        raise UsageError(f"the selection ({_selection(settings)}) leaves no rule to run on a model")
    start = time.perf_counter()
    facts = inspect_model(obj)
    model = run_rules(rules, facts, target=facts.target, kind="model", summary=facts.summary())
    targets = [replace(model, seconds=time.perf_counter() - start)]
    if environment:
        targets.append(_environment(env_rules))
    return Report(tuple(targets), errors=tuple(reg.plugin_errors), fail_on=settings.fail_on)


def _diagnose_onnxtr(obj, environment: bool, settings: Settings, registry: Registry | None) -> Report:
    """An OnnxTR predictor's sessions through the OD5xx rules, with the machine they run on."""
    from .inspect.environment import inspect_environment
    from .inspect.onnxtr import inspect_onnxtr

    reg, rules = select_rules(settings, "onnxtr", registry)
    env_rules = select_rules(settings, "environment", reg)[1] if environment else []
    if not rules and not env_rules:
        raise UsageError(f"the selection ({_selection(settings)}) leaves no rule to run on an OnnxTR predictor")
    start = time.perf_counter()
    machine = inspect_environment()
    facts = inspect_onnxtr(obj, environment=machine)
    result = run_rules(rules, facts, target=facts.target, kind="onnxtr", summary=facts.summary())
    targets = [replace(result, seconds=time.perf_counter() - start)]
    if environment:
        targets.append(_environment(env_rules, machine))
    return Report(tuple(targets), errors=tuple(reg.plugin_errors), fail_on=settings.fail_on)


def _sniffed(path: Path) -> str | None:
    from .read.sniff import sniff

    try:
        return sniff(Path(path))
    except OSError:
        return None  # unreadable: the checkpoint path reports it (OD100)


def _check_onnx_deployment(halves: dict, *, device: str, half: bool, settings: Settings,
                           registry: Registry | None) -> Report:
    """ONNX exports as OnnxTR serves them: each file through the OD4xx rules, then the OnnxTR predictor a
    service builds from them (each model given the config its file records) through OD5xx, and the machine."""
    from .treat.build import BuildError
    from .treat.onnxtr import onnxtr_predictor, require_onnxtr

    if half:
        raise UsageError("--half casts a PyTorch predictor; an ONNX export's precision is in the file: "
                         "ocrdoctor export --fp16 writes a float16 one")
    require_onnxtr("an ONNX deployment (--det/--reco *.onnx)")
    reg, rules = select_rules(settings, "onnx", registry)
    files = tuple(check_file(Path(path), rules) for path, _ in halves.values())
    try:
        predictor = onnxtr_predictor(*halves.get("det", (None, None)), *halves.get("reco", (None, None)),
                                     device=device)
    except BuildError as exc:
        raise UsageError(str(exc)) from None
    deployed = _diagnose_onnxtr(predictor, True, settings, reg)
    return Report(files + deployed.targets, errors=tuple(reg.plugin_errors), fail_on=settings.fail_on)
