"""A deployment as targets: each file checked against its architecture, each half built as a service builds
it, the predictor over the halves that were built, and the machine.

A half that cannot be built is not built (OD126, whenever the selection holds a rule of its kind),
and the other half is still built and judged: one model that cannot load never hides the other.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..core.engine import UsageError
from ..core.findings import TargetResult
from ..core.plan import Plan
from .loop import check_one, finish
from .targets import CheckpointFile, LiveModel, Machine, NotBuilt, OnnxFile, OnnxtrPredictor, built

TASKS = ("det", "reco")


def halves_of(det: Path | None, det_arch: str | None, reco: Path | None, reco_arch: str | None
              ) -> dict[str, tuple[Path, str]]:
    halves = {task: (Path(path), arch) for task, path, arch in (("det", det, det_arch), ("reco", reco, reco_arch))
              if path is not None}
    if not halves:
        raise UsageError("a deployment needs a detection or a recognition checkpoint (or both)")
    return halves


def is_onnx_deployment(halves: dict[str, tuple[Path, str]]) -> bool:
    """ONNX exports (sniffed) or PyTorch checkpoints; both at once is a usage error."""
    from ..read.sniff import sniff

    def sniffed(path: Path) -> str | None:
        try:
            return sniff(path)
        except OSError:
            return None  # unreadable: the checkpoint path reports it (OD100)

    kinds = {task: sniffed(path) == "onnx" for task, (path, _) in halves.items()}
    if len(set(kinds.values())) > 1:
        raise UsageError("a deployment is PyTorch checkpoints or ONNX exports, not both: "
                         + ", ".join(f"--{task} is {'an ONNX export' if onnx else 'a checkpoint'}"
                                     for task, onnx in kinds.items()))
    return any(kinds.values())


def torch_deployment(plan: Plan, halves: dict[str, tuple[Path, str]], device: str = "cpu", half: bool = False,
                     vocab: str | None = None):
    """The checkpoints (each read once, checked against its architecture), the predictor built from those
    same reads over the halves that build, then the machine."""
    from ..treat.build import BuildError, predictor_of

    results: list[TargetResult] = []
    models = {}
    with contextlib.ExitStack() as keep:
        for task, (path, arch) in halves.items():
            target = CheckpointFile(path, arch, build=False)
            results += check_one(plan, target, keep)
            opened = getattr(target, "kept", None)
            name = f"{path} as {arch}"
            try:
                if opened is None:
                    raise NotBuilt(f"{path} could not be read (see its findings)")
                models[task] = built(*opened, arch, vocab if task == "reco" else None)
            except NotBuilt as exc:
                results.append(plan.unbuilt(name, "model", exc.reason, exc.hint))
        if models:
            try:
                predictor = predictor_of(models.get("det"), models.get("reco"), device=device, half=half)
            except BuildError as exc:  # the device asked for is not on this machine: the run cannot be made
                raise UsageError(str(exc)) from None
            results += check_one(plan, LiveModel(predictor))
    results += check_one(plan, Machine())
    return finish(plan, results)


def onnx_deployment(plan: Plan, halves: dict[str, tuple[Path, str]], device: str = "cpu", half: bool = False):
    """ONNX exports as OnnxTR serves them: each file through the OD4xx rules, then the OnnxTR predictor a
    service builds from them (each model given the config its file records) through OD5xx, and the machine."""
    from ..inspect.environment import inspect_environment
    from ..treat.build import BuildError
    from ..treat.onnxtr import onnxtr_model, predictor_over, require_onnxtr

    if half:
        raise UsageError("--half casts a PyTorch predictor; an ONNX export's precision is in the file: "
                         "ocrdoctor export --fp16 writes a float16 one")
    require_onnxtr("an ONNX deployment (--det/--reco *.onnx)")
    results: list[TargetResult] = []
    models = {}
    for task, (path, arch) in halves.items():
        results += check_one(plan, OnnxFile(path))
        try:
            models[task] = onnxtr_model(path, arch, device)
        except BuildError as exc:
            results.append(plan.unbuilt(f"{path} as {arch}", "onnxtr", str(exc)))
    machine = inspect_environment()
    if models:
        results += check_one(plan, OnnxtrPredictor(predictor_over(models.get("det"), models.get("reco")), machine))
    results += check_one(plan, Machine(machine))
    return finish(plan, results)
