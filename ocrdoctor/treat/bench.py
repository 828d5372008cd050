"""`ocrdoctor bench`: the predictor as given, then after each applicable fix, on the same pages.

The workload is fixed so that every row does the same work: for each synthetic page, the
detection model on the pre-processed page and the recognition model on a fixed number of
word crops (a page of a real document has a few hundred words). Models run in docTR's export
mode (raw logits), so eager PyTorch and ONNX Runtime compute the same thing, and the
post-processing, identical in every row, is left out. Fixes are applied one after another
(a ladder): each row's "step" is what that fix alone gained, "total" what all fixes so far
gained, against the predictor as given.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..inspect.model import NotAModel, fast_unfused, inspect_model, model_parts
from ..core.timing import median_seconds
from ..anatomy.versions import FAST_FUSION_UNSOUND, fast_fusion_sound


@dataclass(frozen=True)
class Row:
    variant: str
    seconds_per_page: float
    speedup: float = 1.0        # against "as given"
    step: float = 1.0           # against the row before

    @property
    def pages_per_second(self) -> float:
        return 1.0 / self.seconds_per_page if self.seconds_per_page else 0.0


@dataclass(frozen=True)
class BenchResult:
    predictor: str
    device: str
    pages: int
    words_per_page: int
    repeat: int
    rows: tuple[Row, ...]
    skipped: tuple[str, ...]   # fixes that did not apply, and why
    pipeline: tuple[Row, ...] = ()  # the whole predictor on the pages, then with each costly page option off

    def to_dict(self) -> dict:
        data = asdict(self)
        data["version"] = 1
        for rows, raws in ((self.rows, data["rows"]), (self.pipeline, data["pipeline"])):
            for row, raw in zip(rows, raws):
                raw["pages_per_second"] = row.pages_per_second
        return data

    def table(self) -> str:
        lines = [f"{self.predictor} on {self.device}: {self.pages} synthetic page(s), {self.words_per_page} word crops "
                 f"per page, median of {self.repeat}",
                 f"{'variant':<34} {'pages/s':>8} {'ms/page':>9} {'step':>7} {'total':>7}"]
        for r in self.rows:
            lines.append(f"{r.variant:<34} {r.pages_per_second:>8.2f} {r.seconds_per_page * 1e3:>9.0f} "
                         f"{r.step:>6.2f}x {r.speedup:>6.2f}x")
        lines += [f"not applicable: {s}" for s in self.skipped]
        if self.pipeline:
            lines += ["", f"page options (OD212): the whole predictor on the same {self.pages} page(s), median of {self.repeat}"]
            lines += [f"{r.variant:<34} {r.pages_per_second:>8.2f} {r.seconds_per_page * 1e3:>9.0f} "
                      f"{r.step:>6.2f}x {r.speedup:>6.2f}x" for r in self.pipeline]
        return "\n".join(lines)


@dataclass
class Workload:
    """The same inputs for every variant: page batches for detection, crop batches for recognition."""

    pages: list
    crops: list

    @classmethod
    def build(cls, predictor: Any, pages: int, words: int) -> "Workload":
        from .samples import sample_images

        return cls(predictor.det_predictor.pre_processor(sample_images("detection", pages)),
                   predictor.reco_predictor.pre_processor(sample_images("recognition", pages * words)))


def bench(predictor: Any, *, pages: int = 1, words: int = 150, repeat: int = 3, onnx: bool = True,
          progress: Callable[[str, int], None] | None = None) -> BenchResult:
    """Time `predictor` (a docTR OCRPredictor) as given, then after each fix that applies, in place.

    `progress(name, total)` is called before each timed variant, `total` being how many will run.
    """
    import torch

    if not (hasattr(predictor, "det_predictor") and hasattr(predictor, "reco_predictor")):
        raise NotAModel(f"ocrdoctor bench times an OCRPredictor (detection and recognition), got {type(predictor).__name__}")
    facts = inspect_model(predictor)
    work = Workload.build(predictor, pages, words)
    rows: list[Row] = []
    threads = torch.get_num_threads()
    pipeline, failed = _page_option_rows(predictor, facts, pages, repeat, torch)  # before any fix changes it
    try:
        steps = list(_steps(predictor, facts, torch, onnx))  # applicability is judged on the predictor as given
        skipped = [f"{name} ({reason})" for name, _, reason in steps if reason] + failed
        for name, apply, reason in steps:
            if reason:
                continue
            if progress:
                progress(name, len(steps) - len(skipped))
            with apply() as run:
                seconds = median_seconds(lambda: run(work), repeat, sync=_sync(torch)) / pages
            first = rows[0].seconds_per_page if rows else seconds
            previous = rows[-1].seconds_per_page if rows else seconds
            rows.append(Row(name, seconds, first / seconds, previous / seconds))
    finally:
        torch.set_num_threads(threads)  # a process-wide setting: leave it as found
    device = ", ".join(sorted({d for c in facts.components for d in c.devices}))
    return BenchResult(facts.target, device, pages, words, repeat, tuple(rows), tuple(skipped), pipeline)


def _ladder(variants: list[tuple[str, Callable[[], Any]]], timed: Callable[[], float]) -> tuple[Row, ...]:
    """Apply each change in turn and time after each: one row per variant, against the first and the previous."""
    rows: list[Row] = []
    for name, change in variants:
        change()
        seconds = timed()
        first = rows[0].seconds_per_page if rows else seconds
        previous = rows[-1].seconds_per_page if rows else seconds
        rows.append(Row(name, seconds, first / seconds, previous / seconds))
    return tuple(rows)


PAGE_OPTION_STATE = ("straighten_pages", "detect_orientation", "crop_orientation_predictor")


def _page_option_rows(predictor: Any, facts: Any, pages: int, repeat: int, torch: Any
                      ) -> tuple[tuple[Row, ...], list[str]]:
    """The whole predictor on synthetic pages, then with each costly page option turned off by the
    very statement OD212 prints; the options are restored afterwards. A predictor that fails on the
    pages (docTR 0.8 fails on a page without words when assume_straight_pages=False) gets a reason."""
    if not facts.page_options:
        return (), []
    from .samples import text_page

    images = [text_page(i) for i in range(pages)]
    saved = {name: getattr(predictor, name, None) for name in PAGE_OPTION_STATE}
    variants = [("as given", lambda: None)]
    variants += [(f"- {o.name}", (lambda o=o: o.apply(predictor))) for o in facts.page_options]

    def timed() -> float:
        with torch.inference_mode():
            return median_seconds(lambda: predictor(images), repeat, sync=_sync(torch)) / pages

    try:
        return _ladder(variants, timed), []
    except Exception as exc:  # the user's predictor failing is a measurement, not a crash of the bench
        from ..core.registry import one_line

        return (), [f"page options (the whole predictor fails on the sample pages: {one_line(exc)})"]
    finally:
        for name, value in saved.items():
            setattr(predictor, name, value)


def demo_predictor(det_arch: str = "fast_tiny", reco_arch: str = "crnn_mobilenet_v3_small", **options) -> Any:
    """docTR models with random weights (none can be downloaded here), BatchNorm calibrated on a sample page."""
    from doctr import models

    from ..specimens.models import calibrate_batchnorm, offline_ocr_predictor
    from .samples import text_page

    build = lambda arch: getattr(models, arch)(pretrained=False, pretrained_backbone=False)  # noqa: E731
    predictor = offline_ocr_predictor(build(det_arch), build(reco_arch), **options)
    calibrate_batchnorm(predictor.det_predictor.model, predictor.det_predictor.pre_processor([text_page(1)])[0])
    return predictor


Step = tuple[str, Callable[[], Any], str | None]


def _steps(predictor: Any, facts: Any, torch: Any, onnx: bool) -> Iterator[Step]:
    """(name, context manager factory yielding a runner, reason it does not apply) in ladder order."""
    eager = lambda: _eager(predictor, torch)  # noqa: E731
    yield "as given", eager, None
    training = sum(len(c.training) for c in facts.components)
    yield "+ eval mode", _then(predictor.eval, eager), None if training else "already in eval mode"
    dtypes = {d for c in facts.components for d in c.dtypes}
    yield ("+ float32", _then(lambda: predictor.to(torch.float32), eager),
           None if "float64" in dtypes else "no float64 weights")
    unfused = [m for _, m, _, _ in model_parts(predictor, "predictor") if fast_unfused(m)]
    yield ("+ FAST reparameterized", _then(lambda: _fuse(unfused), eager),
           "no unfused FAST model" if not unfused else None if fast_fusion_sound() else FAST_FUSION_UNSOUND)
    usable = _usable_cpus()
    on_cpu = all(d == "cpu" for c in facts.components for d in c.devices)
    threads = torch.get_num_threads()
    yield (f"+ torch.set_num_threads({usable})", _then(lambda: torch.set_num_threads(usable), eager),
           None if on_cpu and threads > usable else f"{threads} thread(s) for {usable} usable CPU(s)")
    cuda = torch.cuda.is_available()
    yield "+ .cuda()", _then(lambda: predictor.cuda(), eager), None if cuda and on_cpu else "no CUDA GPU" if not cuda else "already on a GPU"
    yield "+ .half()", _then(lambda: predictor.half(), eager), None if cuda else "no CUDA GPU; float16 is slower on the CPU"
    yield "+ ONNX Runtime (float32 export)", lambda: _onnx(predictor, torch), _onnx_reason() if onnx else "left out (--no-onnx)"


def _then(change: Callable[[], Any], runner: Callable[[], Any]) -> Callable[[], Any]:
    def enter():
        change()
        return runner()

    return enter


def _fuse(models: list) -> None:
    from doctr.models.detection.fast import reparameterize

    for m in models:
        reparameterize(m)


def _usable_cpus() -> int:
    from ..inspect.environment import inspect_environment

    return inspect_environment().cpus_usable


def _sync(torch: Any) -> Callable[[], None] | None:
    return torch.cuda.synchronize if torch.cuda.is_available() else None


@contextlib.contextmanager
def _eager(predictor: Any, torch: Any) -> Iterator[Callable[[Workload], None]]:
    """Both models in export mode (raw logits), fed the workload on their own device and dtype."""
    det, reco = predictor.det_predictor.model, predictor.reco_predictor.model
    saved = (det.exportable, reco.exportable)
    det.exportable = reco.exportable = True

    def feed(model: Any, batches: list) -> list:
        p = next(model.parameters())
        return [b.to(device=p.device, dtype=p.dtype) for b in batches]

    def run(work: Workload) -> None:
        with torch.inference_mode():
            for batch in feed(det, work.pages):
                det(batch)
            for batch in feed(reco, work.crops):
                reco(batch)

    try:
        yield run
    finally:
        det.exportable, reco.exportable = saved


def _onnx_reason() -> str | None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return 'onnxruntime not installed: pip install "ocrdoctor[onnx]"'
    return None


@contextlib.contextmanager
def _onnx(predictor: Any, torch: Any) -> Iterator[Callable[[Workload], None]]:
    """Both models exported (float32, fused, eval) and run in onnxruntime sessions as OnnxTR opens them."""
    import copy

    import onnxruntime as ort

    from .export import export_graph, exportable_model
    from ..inspect.onnx import wanted_providers
    from ..inspect.ortrun import session_options
    from .samples import sample_images

    with tempfile.TemporaryDirectory(prefix="ocrdoctor-bench-") as tmp:
        sessions = []
        for role, model, _, pre in model_parts(predictor, "predictor"):
            cpu_copy = exportable_model(copy.deepcopy(model).to(device="cpu", dtype=torch.float32))
            path = Path(tmp) / f"{role}.onnx"
            export_graph(cpu_copy, pre[0](sample_images(role, 1))[0], path, type(model).__name__)
            sessions.append(ort.InferenceSession(str(path), session_options(), providers=list(wanted_providers())))
        det_session, reco_session = sessions

        def run(work: Workload) -> None:
            for batch in work.pages:
                det_session.run(None, {"input": batch.numpy()})
            for batch in work.crops:
                reco_session.run(None, {"input": batch.numpy()})

        yield run
