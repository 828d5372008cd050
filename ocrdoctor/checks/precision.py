"""OD2xx rules on where a live model runs and in what precision: devices, dtypes, half on the CPU,
float16 on architectures that break in it. Fixes are code that runs on the object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..anatomy.halfcpu import slow
from ..core.findings import Applicability, Problem, Severity
from ..core.registry import check
from ..core.units import count, listing
from ..inspect.model import Component, ModelFacts
from . import examples as ex

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS
HALF = ("float16", "bfloat16")
# docTR architectures that crash or silently corrupt their output in float16, and where that was reported
HALF_UNSAFE = {
    "sar_resnet31": "crashes in float16 (mindee/doctr#1441)",
    "master": "is not float16-clean: its attention decoding overflows (mindee/doctr#1441)",
    "crnn_vgg16_bn": "silently corrupts its text in float16: the LSTM decoder (mindee/doctr PR #2111)",
}
BFLOAT16_CROP_FIX = (1, 1)  # docTR release that fixed bfloat16 with crop orientation (PR #2118)


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
            fix=f"{facts.root} = {facts.root}.cuda()",
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
        yield Problem(f"tensors on {count(len(devices), 'device')}: {parts}", location=", ".join(mixed),
                      fix=f'{facts.root} = {facts.root}.to("{target}")')


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
                      fix=f"{facts.root} = {facts.root}.float()")


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
        Half precision runs on those tensor cores (`ocrdoctor bench --device cuda` measures the
        gain on the deployment's own predictor; none is claimed here). It changes numerics and has
        silently corrupted some recognition models' output (docTR PR #2111, crnn_vgg16_bn):
        compare the words read on real pages before and after.
        Architectures known to crash or corrupt in half precision (OD211) are never advised.
    Fix:
        `.half()` on the model (docTR casts each batch to its model's dtype), once
        `ocrdoctor compare PAGES... --det D --det-arch A --reco R --reco-arch B --candidate-dtype
        float16 --candidate-device cuda` shows the same words read on a sample of real pages.
    Example:
        A docTR predictor moved with `.cuda()` only, on an A100.
    """
    if facts.gpu_capability is None or facts.gpu_capability < (7, 0):
        return
    for c in facts.components:
        if any(d.startswith("cuda") for d in c.devices) and set(c.dtypes) == {"float32"} and c.arch not in HALF_UNSAFE:
            yield Problem(
                f"{c.role} model ({c.cls}) runs float32 on a GPU with compute capability "
                f"{'.'.join(map(str, facts.gpu_capability))}, which has tensor cores for half precision "
                "(`ocrdoctor bench --device cuda` measures the gain)",
                location=c.path,
                fix=f"{c.path}.half()  # once `ocrdoctor compare PAGES... --candidate-dtype float16 "
                    "--candidate-device cuda` reads the same words",
            )


@check(
    "OD205", "half-on-cpu", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.model("float16-without-native-support", lambda: ex.tiny_net(dtype="float16"), cpu_fp16=False),
         ex.model("bfloat16-without-native-support", lambda: ex.tiny_net(dtype="bfloat16"), cpu_bf16=False),
         ex.model("float16-native-but-old-torch", lambda: ex.tiny_net(dtype="float16"), cpu_fp16=True,
                  torch_release=(2, 1, 0))],
    good=[ex.model("float32-cpu", ex.tiny_net), ex.on_gpu("half-on-gpu", lambda: ex.tiny_net(dtype="float16")),
          ex.model("bfloat16-on-amx", lambda: ex.tiny_net(dtype="bfloat16"), cpu_bf16=True),
          ex.model("float16-on-avx512-fp16", lambda: ex.tiny_net(dtype="float16"), cpu_fp16=True,
                   torch_release=(2, 14, 1)),
          ex.model("flags-unreadable", lambda: ex.tiny_net(dtype="float16"), cpu_fp16=None)],
)
def half_on_cpu(facts: ModelFacts) -> Iterator[Problem]:
    """Half precision on a CPU that runs it slowly.

    What it detects:
        float16 parameters on a CPU without native float16 (AVX512-FP16 or AMX-FP16), or with
        it under a torch older than the release measured fast there; bfloat16 parameters on a
        CPU without native bfloat16 (AVX512-BF16 or AMX-BF16). The flags are read from
        /proc/cpuinfo; where they cannot be read, nothing is judged.
    Why it matters:
        Without those instructions torch computes half precision by converting every value, and
        the page takes several times float32's time. The slowdown in the message is a measured
        row of `ocrdoctor/data/half_cpu.json` (`bench/bench_half_cpu.py`: the shipped pair on its
        sample pages, each dtype against float32 in the same run), quoted for a CPU like this one.
        On a CPU with native support, half precision is not slow and the rule is silent (the
        rows say where that was measured).
    Fix:
        `predictor = predictor.float()` on such a CPU; keep `.half()` for the GPU.
    Example:
        A model saved in float16 for a GPU, then served on an AVX2-only CPU host.
    """
    for c in facts.components:
        if "cpu" not in c.devices:
            continue
        native = {"float16": facts.cpu_fp16, "bfloat16": facts.cpu_bf16}
        reasons = {d: slow(d, native[d], facts.torch_release) for d in c.dtypes if d in native}
        for dtype, why in reasons.items():
            if why:
                yield Problem(f"{c.role} model ({c.cls}) has {c.dtypes[dtype]} {dtype} parameters on {why}",
                              location=c.path, fix=f"{facts.root} = {facts.root}.float()")


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
        Twice the memory and slower, for no accuracy an OCR model can use: the shipped pair ran
        5.43x faster after `.float()` on 2 CPU cores (`bench/bench_compare.py`'s ladder; the
        README's `ocrdoctor bench --dtype float64` table shows a run); GPUs run float64 at a small
        fraction of their float32 rate.
    Fix:
        `predictor = predictor.float()`.
    Example:
        `model.double()` left over from a gradient check.
    """
    for c in facts.components:
        if "float64" in c.dtypes:
            yield Problem(f"{c.role} model ({c.cls}) has {c.dtypes['float64']} float64 parameters", location=c.path,
                          fix=f"{facts.root} = {facts.root}.float()")


@check(
    "OD211", "half-unsafe-architecture", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.on_gpu("crnn_vgg16_bn-float16", lambda: ex.doctr_model("crnn_vgg16_bn").eval().half()),
         ex.on_gpu("sar-float16", lambda: ex.doctr_model("sar_resnet31").eval().half()),
         ex.on_gpu("bfloat16-crop-orientation-before-1.1",
                   lambda: ex.ocr_predictor(assume_straight_pages=False).to(ex.bfloat16()), doctr_release=(1, 0, 2))],
    good=[ex.on_gpu("crnn_mobilenet-float16", lambda: ex.doctr_model("crnn_mobilenet_v3_small").eval().half()),
          ex.on_gpu("crnn_vgg16_bn-float32", lambda: ex.doctr_model("crnn_vgg16_bn").eval()),
          ex.on_gpu("bfloat16-crop-orientation-1.1",
                    lambda: ex.ocr_predictor(assume_straight_pages=False).to(ex.bfloat16()), doctr_release=(1, 1, 0))],
)
def half_unsafe_architecture(facts: ModelFacts) -> Iterator[Problem]:
    """Half precision on an architecture known to crash or corrupt in it.

    What it detects:
        A recognition model in float16 whose architecture is known to fail in it (SAR,
        MASTER, crnn_vgg16_bn), identified from its weights by the release tables; and any
        model in bfloat16 while crop orientation runs, on docTR before 1.1.
    Why it matters:
        SAR crashes; crnn_vgg16_bn runs faster and returns wrong text with no error; bfloat16
        crashed on rotated pages until docTR 1.1. Speed is no use with wrong text.
    Fix:
        Keep that model in float32 (`.float()` on it); the other model can stay in half
        precision, since docTR casts each batch to its own model's dtype. `ocrdoctor compare
        PAGES... --candidate-dtype float16 --candidate-device cuda` shows, on the team's own
        pages, the words half precision changes.
    Example:
        `ocr_predictor("db_resnet50", "crnn_vgg16_bn", pretrained=True).cuda().half()`
    Seen in the field:
        SAR in float16: mindee/doctr#1441. crnn_vgg16_bn's silently corrupted text: mindee/doctr
        PR #2111. The bfloat16 crash with rotated pages, fixed in 1.1: mindee/doctr PR #2118.
    """
    for c in facts.components:
        if "float16" in c.dtypes and c.arch in HALF_UNSAFE:
            yield Problem(f"the {c.role} model ({c.arch}) is in float16, and {c.arch} {HALF_UNSAFE[c.arch]}",
                          location=c.path, fix=f"{c.path}.float()")
    if facts.crop_orientation and facts.doctr_release and facts.doctr_release < BFLOAT16_CROP_FIX:
        for c in facts.components:
            if "bfloat16" in c.dtypes:
                yield Problem(f"the {c.role} model ({c.cls}) is in bfloat16 with crop orientation on: docTR "
                              f"{'.'.join(map(str, facts.doctr_release))} crashes on rotated pages (fixed in 1.1)",
                              location=c.path, fix=f"{c.path}.float()")
