"""The Python face: the same runs the CLI makes, and the same Report it renders.

Each function turns its arguments into settings exactly as the CLI does (`config=PATH` reads that
file as `--config PATH` would; without it no config file is read), builds a plan, names its
targets and hands them to the one loop (`run/`). Options are the CLI's, under their Python names.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .core.config import Settings
from .core.engine import UsageError
from .core.findings import Report
from .core.registry import Registry
from .run import deployment, loop
from .run.named import target_of, targets_of
from .run.plan import file_kinds, key_path, known_arch, plan_for, settings_for
from .run.targets import LiveModel, Machine, OnnxtrPredictor


def check_paths(paths: str | Path | Iterable[str | Path], *, arch: str | None = None, key: str | None = None,
                vocab: str | None = None, config: str | Path | None = None, settings: Settings | None = None,
                registry: Registry | None = None, **options) -> Report:
    """`ocrdoctor check PATH...` from Python: a path or several. `options` are the CLI's (`fail_on="warning"`,
    `select="OD1"` or `["OD1", "OD205"]`, `ignore`, `include`, `exclude`, `jobs`, `no_limits`, `values`,
    `timeout`) and behave as there; an unknown one is a TypeError. `key` picks the weights inside each file
    (`model.reco`); `vocab` builds a recognizer with `arch` (a docTR vocab's name, a file, or the characters).
    Paths may be URLs (`https://`, `s3://`, `gs://`, `hf://`: the `remote` extra).
    Raises UsageError, as the CLI exits 2, when nothing named can be checked."""
    settings = settings_for("check_paths", options, config, settings)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    known_arch(arch)
    targets, skipped = targets_of(list(paths), settings.include, settings.exclude, settings.timeout, arch,
                                  key_path(key), vocab)
    plan = plan_for(settings, file_kinds(arch, targets), registry)
    return loop.run(plan, targets, jobs=settings.jobs, skipped=skipped)


def check_file(path: str | Path, rules: Iterable, arch: str | None = None):
    """One file through exactly `rules` (a rule's or a plugin's own tests): its TargetResult."""
    from .core.plan import Plan
    from .read.limits import DEFAULT

    by_kind: dict[str, list] = {}
    for rule in rules:
        for kind in rule.kinds:
            by_kind.setdefault(kind, []).append(rule)
    plan = Plan(rules={k: tuple(v) for k, v in by_kind.items()}, limits=DEFAULT)
    return loop.check_one(plan, target_of(Path(path), arch))[0]


def check_path(path: str | Path, **options) -> Report:
    """`ocrdoctor check PATH` from Python (options as for check_paths)."""
    return check_paths(path, **options)


def check_deployment(det: str | Path | None = None, det_arch: str | None = None, reco: str | Path | None = None,
                     reco_arch: str | None = None, *, device: str = "cpu", half: bool = False,
                     vocab: str | None = None, config: str | Path | None = None, settings: Settings | None = None,
                     registry: Registry | None = None, **options) -> Report:
    """`ocrdoctor check --det ... --reco ...` from Python: each file checked against its architecture, the
    predictor a deployment builds from them (docTR's, or OnnxTR's for ONNX exports), then the machine. A
    detector alone or a recognizer alone is a deployment too; `vocab` builds the recognizer. Options as for
    check_paths."""
    settings = settings_for("check_deployment", options, config, settings)
    halves = deployment.halves_of(det, det_arch, reco, reco_arch)
    for path, _ in halves.values():
        if not path.is_file():
            raise UsageError(f"path not found: {path}")
    if deployment.is_onnx_deployment(halves):
        plan = plan_for(settings, ("onnx", "onnxtr", "environment"), registry)
        return deployment.onnx_deployment(plan, halves, device=device, half=half)
    from .core.extras import require_doctr

    require_doctr("a deployment check (--det/--reco)")
    for _, arch in halves.values():
        known_arch(arch)
    plan = plan_for(settings, ("checkpoint", "model", "environment"), registry)
    return deployment.torch_deployment(plan, halves, device=device, half=half, vocab=vocab)


def check_environment(*, facts: Any = None, config: str | Path | None = None, settings: Settings | None = None,
                      registry: Registry | None = None, **options) -> Report:
    """The OD3xx rules over this machine (or over `facts`, e.g. a GPU host's, for a test); options as for
    check_paths."""
    settings = settings_for("check_environment", options, config, settings)
    plan = plan_for(settings, ("environment",), registry)
    return loop.run(plan, [Machine(facts)])


def diagnose(obj: Any, *, environment: bool = True, config: str | Path | None = None,
             settings: Settings | None = None, registry: Registry | None = None, **options) -> Report:
    """The OD2xx rules on a live docTR predictor or torch module, the OD5xx rules on an OnnxTR predictor
    (and OD3xx on this machine); options as for check_paths.

    Reads devices, dtypes, modes and session settings only: no weight is copied or moved, no page
    is run. Raises ocrdoctor.inspect.model.NotAModel, with a one-line message, for what cannot be
    diagnosed, and ocrdoctor.treat.build.MissingExtra (naming the extra to install) where torch is missing.
    """
    from .inspect.onnxtr import is_onnxtr

    settings = settings_for("diagnose", options, config, settings)
    machine = ("environment",) if environment else ()
    if is_onnxtr(obj):
        from .inspect.environment import inspect_environment

        plan = plan_for(settings, ("onnxtr", *machine), registry)
        facts = inspect_environment()
        return loop.run(plan, [OnnxtrPredictor(obj, facts), *([Machine(facts)] if environment else [])])
    from .core.extras import require_doctr

    require_doctr("ocrdoctor.diagnose", modules=("torch",))
    plan = plan_for(settings, ("model", *machine), registry)
    return loop.run(plan, [LiveModel(obj), *([Machine()] if environment else [])])


def compare(base: Any, candidate: Any = None, pages: Iterable[str | Path] | None = None, *, max_cer: float = 0.0,
            max_wer: float = 0.0, min_box_recall: float = 0.98, save_golden: str | Path | None = None,
            truth: str | Path | None = None, repeat: int = 1, config: str | Path | None = None,
            settings: Settings | None = None, registry: Registry | None = None, **options) -> Any:
    """`ocrdoctor compare` from Python. `base`: a docTR predictor, or a golden file's path; `candidate`: a docTR
    predictor (None only with `save_golden`, which writes the base's reading). `pages`: image files, PDFs,
    folders (None: the pages shipped with the trained pair, whose true text ships too). `truth`: JSON of page
    name to its text, so the base's own accuracy is shown. `repeat`: runs per page and side; from 2, each side's
    time per page is their median with its spread (1, the default: no time is shown). Returns a
    treat.compare.Comparison; options as for check_paths (`fail_on`, `select`, `ignore`, ...)."""
    from .treat.compare import compare as compared

    settings = settings_for("compare", options, config, settings)
    plan = plan_for(settings, ("comparison",), registry)
    return compared(plan, base, candidate, pages, max_cer=max_cer, max_wer=max_wer, min_box_recall=min_box_recall,
                    save_golden=save_golden, truth=truth, repeat=repeat)
