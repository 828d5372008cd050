"""The rungs of `bench`'s ladder: the same workload for each, run eagerly or in onnxruntime, and the
sample pages read through the predictor as it stands (a rung's words, outside the timing)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Workload:
    """The same inputs for every variant: batches for each role, pre-processed by the predictor's own
    pre-processor (pages for detection, word crops for recognition)."""

    batches: dict[str, list]

    @classmethod
    def build(cls, predictor: Any, pages: int, words: int) -> Workload:
        from .samples import sample_images

        counts = {"detection": pages, "recognition": pages * words}
        return cls({role: holder.pre_processor(sample_images(role, counts[role]))
                    for role, holder in holders(predictor)})


def holders(predictor: Any) -> list[tuple[str, Any]]:
    """(role, object whose `.model` and `.pre_processor` run that role): both halves of an OCRPredictor,
    or a DetectionPredictor / RecognitionPredictor alone."""
    from .proof import task_of

    if hasattr(predictor, "det_predictor") and hasattr(predictor, "reco_predictor"):
        return [("detection", predictor.det_predictor), ("recognition", predictor.reco_predictor)]
    if hasattr(predictor, "pre_processor") and getattr(predictor, "model", None) is not None:
        return [(task_of(predictor.model), predictor)]
    return []


@dataclass(frozen=True)
class Runner:
    """A rung of the ladder: `time` runs the workload; `read` reads the sample pages (None: cannot)."""

    time: Callable[[Workload], None]
    read: Callable[[], Any]


@contextlib.contextmanager
def _exportable(models: tuple[Any, ...], value: bool) -> Iterator[None]:
    saved = [m.exportable for m in models]
    for m in models:
        m.exportable = value
    try:
        yield
    finally:
        for m, old in zip(models, saved, strict=False):
            m.exportable = old


@contextlib.contextmanager
def eager(predictor: Any, torch: Any) -> Iterator[Runner]:
    """The models in export mode (raw logits), fed the workload on their own device and dtype; the
    reading goes through the whole predictor, out of export mode."""
    from .proof import read_samples

    models = {role: holder.model for role, holder in holders(predictor)}

    def feed(model: Any, batches: list) -> list:
        p = next(model.parameters())
        return [b.to(device=p.device, dtype=p.dtype) for b in batches]

    def run(work: Workload) -> None:
        with torch.inference_mode():
            for role, model in models.items():
                for batch in feed(model, work.batches[role]):
                    model(batch)

    def read() -> Any:
        with _exportable(tuple(models.values()), False):
            return read_samples(predictor)

    with _exportable(tuple(models.values()), True):
        yield Runner(run, read)


def onnx_reason() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return 'onnxruntime not installed: pip install "ocrdoctor[onnx]"'
    return None


@contextlib.contextmanager
def onnx_runtime(predictor: Any, torch: Any) -> Iterator[Runner]:
    """Both models exported (float32, fused, eval) and run in onnxruntime sessions as OnnxTR opens them."""
    import copy

    import onnxruntime as ort

    from ..inspect.onnx import wanted_providers
    from ..inspect.ortrun import session_options
    from .export import export_graph, exportable_model
    from .samples import sample_images

    with tempfile.TemporaryDirectory(prefix="ocrdoctor-bench-") as tmp:
        sessions = {}
        for role, holder in holders(predictor):
            cpu_copy = exportable_model(copy.deepcopy(holder.model).to(device="cpu", dtype=torch.float32))
            path = Path(tmp) / f"{role}.onnx"
            export_graph(cpu_copy, holder.pre_processor(sample_images(role, 1))[0], path, type(holder.model).__name__)
            sessions[role] = ort.InferenceSession(str(path), session_options(), providers=list(wanted_providers()))

        def run(work: Workload) -> None:
            for role, session in sessions.items():
                for batch in work.batches[role]:
                    session.run(None, {"input": batch.numpy()})

        yield Runner(run, lambda: _read_exports(predictor, Path(tmp)))


def _read_exports(predictor: Any, folder: Path) -> Any:
    """The sample pages read by the predictor with both exports in its models' place (docTR's pre- and
    post-processing around onnxruntime, on the CPU provider), then the models put back."""
    from .onnxside import onnx_model
    from .proof import read_samples

    parts = holders(predictor)
    saved = [holder.model for _, holder in parts]
    try:
        for role, holder in parts:
            holder.model = onnx_model(folder / f"{role}.onnx", holder.model)
        return read_samples(predictor)
    finally:
        for (_, holder), model in zip(parts, saved, strict=False):
            holder.model = model
