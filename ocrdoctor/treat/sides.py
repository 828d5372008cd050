"""The two sides of `ocrdoctor compare` built from files, as a deployment builds them.

The base is a pair of docTR checkpoints. The candidate takes the base's files and architectures
except where it names its own: a checkpoint, or an ONNX export (sniffed by content) that runs
inside docTR's pipeline with the base's model of that side as its twin; then a dtype and device.
Each side is built afresh, so casting the candidate never touches the base.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..anatomy.architectures import arch_names
from ..core.extras import require_doctr
from ..core.registry import one_line
from ..core.units import count
from ..read.sniff import sniff
from .build import BuildError, VocabMissing, build_model
from .compare import CompareError, Options
from .pages import file_sha256

DTYPES = ("float16", "bfloat16", "float64", "float32")


@dataclass(frozen=True)
class Side:
    path: Path
    arch: str
    task: str  # "det" or "reco"
    vocab: str | None = None  # --vocab / --candidate-vocab: what the recognizer is built with


def base_sides(det: Path, det_arch: str, reco: Path, reco_arch: str, vocab: str | None = None) -> tuple[Side, Side]:
    sides = (Side(Path(det), det_arch, "det"), Side(Path(reco), reco_arch, "reco", vocab))
    for side in sides:
        _usable(side, "--det/--reco")
        if _kind(side.path) == "onnx":
            raise CompareError(f"{side.path}: --det and --reco take docTR checkpoints (the base); an ONNX export "
                               f"is a candidate: --candidate-{side.task} {side.path}")
    return sides


def candidate_sides(base: tuple[Side, Side], options: Options) -> tuple[Side, Side]:
    det = Side(options.det or base[0].path, options.det_arch or base[0].arch, "det")
    reco = Side(options.reco or base[1].path, options.reco_arch or base[1].arch, "reco",
                options.reco_vocab or (None if options.reco else base[1].vocab))
    for side, twin in ((det, base[0]), (reco, base[1])):
        _usable(side, f"--candidate-{side.task}")
        if _kind(side.path) == "onnx" and side.arch != twin.arch:
            raise CompareError(f"{side.path}: an ONNX candidate runs in the base's pipeline, so its architecture is "
                               f"the base's ({twin.arch}), not {side.arch}")
    return det, reco


def _usable(side: Side, option: str) -> None:
    if side.arch not in arch_names():
        raise CompareError(f"unknown architecture '{side.arch}' (known: {', '.join(arch_names())})")
    if not side.path.is_file():
        raise CompareError(f"{option}: file not found: {side.path}")


def _kind(path: Path) -> str | None:
    try:
        return sniff(path)
    except OSError as exc:
        raise CompareError(f"cannot read {path}: {exc.strerror or exc}") from None


def build(sides: tuple[Side, Side], twins: tuple[Side, Side] | None = None, *, dtype: str | None = None,
          device: str = "cpu") -> Any:
    """An OCR predictor from the sides' files; an ONNX side runs with its twin's docTR model around it."""
    require_doctr("ocrdoctor compare")
    from ..specimens.models import offline_ocr_predictor
    from .onnxside import onnx_model

    twins = twins or sides
    models, swaps = [], {}
    for side, twin in zip(sides, twins, strict=False):
        try:
            if _kind(side.path) == "onnx":
                model = build_model(twin.path, twin.arch)
                swaps[side.task] = onnx_model(side.path, model, device)
            else:
                model = _built(side, twin)
        except BuildError as exc:
            raise CompareError(str(exc)) from None
        models.append(model)
    predictor = offline_ocr_predictor(*models)
    if "det" in swaps:
        predictor.det_predictor.model = swaps["det"]
    if "reco" in swaps:
        predictor.reco_predictor.model = swaps["reco"]
    return _placed(predictor, dtype, device)


def _built(side: Side, twin: Side) -> Any:
    """The side's model; a candidate recognizer that stores and is given no vocab is built with the base's when
    its head fits it (a candidate saved without the vocab is still the same model)."""
    try:
        return build_model(side.path, side.arch, vocab=side.vocab)
    except VocabMissing:
        if twin is side or side.vocab is not None or side.arch != twin.arch:
            raise
        inherited = build_model(twin.path, twin.arch, vocab=twin.vocab).vocab
    try:
        return build_model(side.path, side.arch, vocab=inherited)
    except BuildError as exc:
        raise CompareError(f"{exc} (the base's vocab does not fit it: name its vocab with --candidate-vocab)") from None


def _placed(predictor: Any, dtype: str | None, device: str) -> Any:
    import torch

    try:
        predictor = predictor.to(device)
        return predictor.to(getattr(torch, dtype)) if dtype else predictor
    except (RuntimeError, AssertionError) as exc:
        raise CompareError(f"cannot put the candidate on {device}{f' in {dtype}' if dtype else ''}: "
                           f"{one_line(exc)}") from None


def described(sides: tuple[Side, Side]) -> dict[str, dict[str, str]]:
    """What a golden records of each model: path, architecture, SHA-256 of the file."""
    return {s.task: {"path": str(s.path), "arch": s.arch, "sha256": file_sha256(s.path)} for s in sides}


def label(sides: tuple[Side, Side], dtype: str | None = None, device: str = "cpu") -> str:
    extra = ", ".join(x for x in (dtype, device if device != "cpu" else None) if x)
    return f"{sides[0].path.name} + {sides[1].path.name}" + (f" ({extra})" if extra else "")


def compare_files(pages: list, det: Path, det_arch: str, reco: Path, reco_arch: str, candidate: Options, *,
                  golden: Path | None, save_golden: Path | None, tolerance: Any, plan: Any,
                  phase: Callable[[str, int], Callable[[], None]] | None = None, truth: Path | None = None,
                  repeat: int = 1) -> Any:
    """The CLI's comparison: build, read (reporting each phase), judge."""
    from .compare import base_reading, judge, page_set, reading_of, repeats, truth_of

    phase = phase or (lambda text, total: lambda: None)
    if candidate.dtype and candidate.dtype not in DTYPES:
        raise CompareError(f"--candidate-dtype must be one of {', '.join(DTYPES)}")
    repeat = repeats(repeat)
    known = truth_of(truth, pages)
    loaded = page_set(pages)
    base = base_sides(det, det_arch, reco, reco_arch, candidate.base_vocab)
    if golden is not None and save_golden is not None:
        raise CompareError("--golden and --save-golden do not go together: one reads a golden, the other writes one")
    if golden is None and not candidate.given() and save_golden is None:
        raise CompareError("nothing to compare: give a candidate (--candidate-det, --candidate-reco, "
                           "--candidate-dtype, ...) or --golden FILE, or record one with --save-golden FILE")
    # checked before anything is read: a bad candidate option costs no reading
    cand = candidate_sides(base, candidate) if golden is not None or candidate.given() else None
    if golden is not None:  # the deployment (with any candidate change) against the golden
        ours = base_reading(golden, loaded)
    else:
        tick = phase(f"base: reading {count(len(loaded), 'page')}", len(loaded))
        ours = reading_of(build(base), loaded, label(base), described(base), tick, repeat)
    theirs = None
    if cand is not None:
        tick = phase(f"candidate: reading {count(len(loaded), 'page')}", len(loaded))
        predictor = build(cand, base, dtype=candidate.dtype, device=candidate.device)
        theirs = reading_of(predictor, loaded, label(cand, candidate.dtype, candidate.device), described(cand), tick,
                            repeat)
    return judge(plan, ours, theirs, tolerance, save_golden=save_golden, truth=known, images=loaded)
