"""OD2xx: rules over a live model or predictor. Fixes are code that runs on the object."""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from ..findings import Applicability, Problem, Severity
from ..inspect.model import Component, ModelFacts
from ..registry import check
from ..units import listing
from . import examples as ex

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS
HALF = ("float16", "bfloat16")


def _root(facts: ModelFacts) -> str:
    return facts.components[0].path.split(".", 1)[0]


@check(
    "OD201", "cpu-with-gpu-available", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.model("cpu-model-gpu-host", ex.tiny_net, cuda_available=True, gpu_capability=(8, 0))],
    good=[ex.model("cpu-model-cpu-host", ex.tiny_net, cuda_available=False), ex.on_gpu("on-gpu", ex.tiny_net)],
)
def cpu_with_gpu_available(facts: ModelFacts) -> Iterator[Problem]:
    """The weights sit on the CPU while torch can use a CUDA GPU.

    What it detects:
        A model or predictor whose parameters are all on the CPU on a machine where
        `torch.cuda.is_available()` is True.
    Why it matters:
        The classic "ten times slower than the official model": docTR's own predictors are
        moved to the GPU by their users; a custom one built from a model object is not.
    Fix:
        `predictor = predictor.cuda()` (docTR moves each batch to the model's device).
    Example:
        `ocr_predictor(det_arch=my_det_model, reco_arch=my_reco_model)` on a GPU server.
    """
    if not facts.cuda_available:
        return
    on_cpu = [c for c in facts.components if set(c.devices) == {"cpu"}]
    if on_cpu:
        yield Problem(
            f"{listing([f'{c.role} model ({c.cls})' for c in on_cpu], 2)} on the CPU while a CUDA GPU is available",
            location=", ".join(c.path for c in on_cpu),
            fix=f"{_root(facts)} = {_root(facts)}.cuda()",
        )


@check(
    "OD202", "mixed-devices", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.model("meta-half", ex.split_across_devices)],
    good=[ex.model("one-device", ex.tiny_net)],
)
def mixed_devices(facts: ModelFacts) -> Iterator[Problem]:
    """Parameters or buffers on more than one device.

    What it detects:
        Inside one model, or between the detection and the recognition model of a predictor.
    Why it matters:
        The forward pass fails ("Expected all tensors to be on the same device"), or tensors
        are copied between devices on every call.
    Fix:
        Move the whole predictor at once: `predictor = predictor.to("cuda")` (or `"cpu"`).
    Example:
        `predictor.det_predictor.model.cuda()` without moving the recognition model.
    """
    devices: Counter[str] = Counter()
    for c in facts.components:
        devices.update(c.devices)
    if len(devices) > 1:
        target = next((d for d, _ in devices.most_common() if d != "meta"), "cpu").split(":")[0]
        parts = ", ".join(f"{n} on {d}" for d, n in devices.most_common())
        mixed = [c.path for c in facts.components if len(c.devices) > 1] or [c.path for c in facts.components]
        yield Problem(f"tensors on {len(devices)} devices: {parts}", location=", ".join(mixed),
                      fix=f'{_root(facts)} = {_root(facts)}.to("{target}")')


def _dtype_problems(facts: ModelFacts, want) -> list[Component]:
    return [c for c in facts.components if want(c)]


@check(
    "OD203", "mixed-dtypes", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.model("half-cast-first-layer", ex.half_cast_net)],
    good=[ex.model("float32", ex.tiny_net), ex.model("all-half", lambda: ex.tiny_net(dtype="float16"))],
)
def mixed_dtypes(facts: ModelFacts) -> Iterator[Problem]:
    """Parameters in more than one floating dtype inside one model.

    What it detects:
        A model partly in float16 / bfloat16 and partly in float32: a half-done `.half()`.
    Why it matters:
        The forward pass fails ("Input type (Half) and bias type (float) should be the same")
        or runs the slow mixed path.
    Fix:
        Cast the whole predictor once: `predictor = predictor.float()` (or `.half()` on a GPU).
    Example:
        `model.feat_extractor.half()` without the heads.
    """
    for c in _dtype_problems(facts, lambda c: len(c.dtypes) > 1):
        parts = ", ".join(f"{n} {d}" for d, n in sorted(c.dtypes.items()))
        yield Problem(f"{c.role} model ({c.cls}) mixes dtypes: {parts} parameters", location=c.path,
                      fix=f"{_root(facts)} = {_root(facts)}.float()")


@check(
    "OD204", "fp32-on-gpu", Severity.INFO, "model",
    applicability=NUMERICS,
    bad=[ex.on_gpu("float32-on-a100", ex.tiny_net, (8, 0))],
    good=[ex.on_gpu("float32-on-pascal", ex.tiny_net, (6, 1)), ex.model("cpu", ex.tiny_net),
          ex.on_gpu("half-on-a100", lambda: ex.tiny_net(dtype="float16"))],
)
def fp32_on_gpu(facts: ModelFacts) -> Iterator[Problem]:
    """float32 weights on a GPU with fast half precision.

    What it detects:
        A model on a CUDA GPU of compute capability 7.0 or newer (tensor cores) whose
        parameters are float32.
    Why it matters:
        `.half()` is often twice as fast or more there. It changes numerics, though, and has
        silently corrupted some recognition models' output (docTR PR #2111, crnn_vgg16_bn):
        compare the OCR text on real pages before and after.
    Fix:
        `predictor = predictor.half()`, then compare the OCR text on a sample of real pages.
    Example:
        A docTR predictor moved with `.cuda()` only, on an A100.
    """
    if facts.gpu_capability is None or facts.gpu_capability < (7, 0):
        return
    for c in facts.components:
        if any(d.startswith("cuda") for d in c.devices) and set(c.dtypes) == {"float32"}:
            yield Problem(
                f"{c.role} model ({c.cls}) runs float32 on a GPU with compute capability "
                f"{'.'.join(map(str, facts.gpu_capability))}: half precision is often 2x faster",
                location=c.path,
                fix=f"{_root(facts)} = {_root(facts)}.half()  # then compare the OCR text on real pages",
            )


@check(
    "OD205", "half-on-cpu", Severity.WARNING, "model",
    applicability=SAFE,
    bad=[ex.model("half-on-cpu", lambda: ex.tiny_net(dtype="float16"))],
    good=[ex.model("float32-cpu", ex.tiny_net), ex.on_gpu("half-on-gpu", lambda: ex.tiny_net(dtype="float16"))],
)
def half_on_cpu(facts: ModelFacts) -> Iterator[Problem]:
    """float16 or bfloat16 weights on the CPU.

    What it detects:
        Half-precision parameters on the CPU.
    Why it matters:
        Most CPU kernels have no fast half-precision path: inference is slower than float32,
        and some operators are not implemented for float16 on the CPU at all.
    Fix:
        `predictor = predictor.float()` on the CPU; keep `.half()` for the GPU.
    Example:
        A model saved in float16 for a GPU, then served on a CPU host.
    """
    for c in facts.components:
        halves = {d: n for d, n in c.dtypes.items() if d in HALF}
        if halves and "cpu" in c.devices:
            yield Problem(f"{c.role} model ({c.cls}) has {sum(halves.values())} {'/'.join(halves)} parameters on the CPU",
                          location=c.path, fix=f"{_root(facts)} = {_root(facts)}.float()")


@check(
    "OD206", "float64-model", Severity.WARNING, "model",
    applicability=NUMERICS,
    bad=[ex.model("double", lambda: ex.tiny_net(dtype="float64"))],
    good=[ex.model("float32", ex.tiny_net)],
)
def float64_model(facts: ModelFacts) -> Iterator[Problem]:
    """float64 parameters.

    What it detects:
        Double-precision parameters, usually from `.double()` or numpy-initialised weights.
    Why it matters:
        Twice the memory, several times slower on the CPU and far slower on GPUs, for no
        accuracy an OCR model can use.
    Fix:
        `predictor = predictor.float()`.
    Example:
        `model.double()` left over from a gradient check.
    """
    for c in facts.components:
        if "float64" in c.dtypes:
            yield Problem(f"{c.role} model ({c.cls}) has {c.dtypes['float64']} float64 parameters", location=c.path,
                          fix=f"{_root(facts)} = {_root(facts)}.float()")


@check(
    "OD207", "train-mode", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.model("train-mode", lambda: ex.tiny_net(train=True))],
    good=[ex.model("eval-mode", ex.tiny_net)],
)
def train_mode(facts: ModelFacts) -> Iterator[Problem]:
    """Modules whose behaviour differs in training mode are in training mode.

    What it detects:
        BatchNorm, Dropout, InstanceNorm with running statistics, and RNN / attention layers
        with dropout, left in training mode. Only such modules count: a fresh
        `ocr_predictor()` reports `training=True` on its wrapper while its models are in eval
        mode, and that is fine.
    Why it matters:
        BatchNorm normalises each batch with its own statistics (and overwrites the running
        ones), Dropout zeroes activations at random: outputs change from call to call and
        accuracy drops.
    Fix:
        `predictor.eval()` before serving.
    Example:
        `model.train()` in a fine-tuning loop, then `ocr_predictor(det_arch=model)`.
    """
    for c in facts.components:
        if c.training:
            yield Problem(f"{len(c.training)} modules of the {c.role} model ({c.cls}) are in training mode "
                          f"({listing(c.training, 3)})", location=c.path, fix=f"{_root(facts)}.eval()")


@check(
    "OD208", "unreparameterized-fast", Severity.WARNING, "model",
    applicability=NUMERICS,
    bad=[ex.model("fast-training-form", lambda: ex.doctr_model("fast_tiny").eval())],
    good=[ex.model("fast-reparameterized", lambda: ex.reparameterized_fast_model("fast_tiny"))],
)
def unreparameterized_fast(facts: ModelFacts) -> Iterator[Problem]:
    """A FAST detection model that was not reparameterized.

    What it detects:
        FAST convolution layers still in their multi-branch training form (separate 3x3,
        1x3, 3x1 and identity branches).
    Why it matters:
        docTR fuses them only when a predictor is built from an architecture name; a
        predictor built from a model object runs every branch, noticeably slower.
    Fix:
        `from doctr.models.detection.fast import reparameterize` and replace the model with
        `reparameterize(model)`.
    Example:
        `ocr_predictor(det_arch=fast_base(pretrained=False), ...)`
    """
    for c in facts.components:
        if c.fast_unfused:
            yield Problem(f"{c.fast_unfused} FAST layers of {c.cls} are not reparameterized", location=c.path,
                          fix=f"from doctr.models.detection.fast import reparameterize\n{c.path} = reparameterize({c.path})")


@check(
    "OD209", "preprocessing-mismatch", Severity.WARNING, "model",
    applicability=SAFE,
    bad=[ex.model("wrong-mean", lambda: ex.predictor_with_preprocessing(mean=(0.5, 0.5, 0.5)))],
    good=[ex.model("from-cfg", ex.predictor_with_preprocessing)],
)
def preprocessing_mismatch(facts: ModelFacts) -> Iterator[Problem]:
    """The predictor's pre-processing differs from what the model was trained with.

    What it detects:
        A pre-processor whose resize size, mean or std differs from the model's `cfg`
        (`input_shape`, `mean`, `std`).
    Why it matters:
        The model sees inputs scaled or normalised differently from training: boxes are
        missed and characters misread, with no error.
    Fix:
        Rebuild the pre-processor from the model's cfg.
    Example:
        `DetectionPredictor(PreProcessor((1024, 1024), 1, mean=(0.5,) * 3), model)` for a model
        trained with docTR's default statistics.
    """
    for c in facts.components:
        got, want = c.preprocessing, c.expected
        if got is None or want is None:
            continue
        diffs = [f"{k} {getattr(got, k)} vs {getattr(want, k)} in cfg" for k in ("size", "mean", "std")
                 if getattr(got, k) != getattr(want, k)]
        if diffs:
            model = c.path
            yield Problem(
                f"the {c.role} pre-processor differs from the model's cfg: {'; '.join(diffs)}",
                location=c.preprocessor_path,
                fix=(f"from doctr.models.preprocessor import PreProcessor\n"
                     f"{c.preprocessor_path} = PreProcessor({model}.cfg[\"input_shape\"][-2:], "
                     f"{c.preprocessor_path}.batch_size, mean={model}.cfg[\"mean\"], std={model}.cfg[\"std\"])"),
            )
