"""OD4xx: rules over an ONNX export and the runtime that will execute it."""

from __future__ import annotations

from collections.abc import Iterator

from ..core.findings import Applicability, Problem, Severity, Skip
from ..core.registry import check
from ..inspect.onnx import CPU_PROVIDER, OnnxFacts, Parity
from . import examples as ex

SAFE, NUMERICS = Applicability.SAFE, Applicability.CHANGES_NUMERICS
EXPORT = "ocrdoctor export CKPT --arch NAME -o model.onnx"
GPU_BOX = ("CUDAExecutionProvider", CPU_PROVIDER)


def _readable(facts: OnnxFacts) -> None:
    if facts.missing:
        raise Skip(facts.missing)
    if facts.problem or facts.checker_error or facts.runtime_error:
        raise Skip("the file is not a valid ONNX model, or onnxruntime cannot run it (OD401)")


@check(
    "OD401", "invalid-onnx", Severity.ERROR, "onnx",
    bad=[ex.raw(b"", "empty", suffix=".onnx"), ex.raw(b"\x08\x07garbage" * 50, "random-bytes", suffix=".onnx"),
         ex.onnx_with_dangling_input("dangling-input"),
         ex.onnx_facts("onnxruntime-crashes",
                       runtime_error="onnxruntime crashed (SIGSEGV) creating or running the session")],
    good=[ex.exported("torch-export"), ex.onnx_facts("onnx-not-installed-here",
                                                     missing="the onnx package is not installed")],
)
def invalid_onnx(facts: OnnxFacts) -> Iterator[Problem]:
    """The file cannot be read as ONNX, `onnx.checker` rejects it, or onnxruntime cannot run it.

    What it detects:
        An empty, truncated or non-ONNX file, or a model that `onnx.checker.check_model`
        (with shape inference) rejects: a node reading a tensor nothing produces, an unknown
        operator for the declared opset, mismatched types. Also a model onnxruntime fails or
        crashes on when it opens a session as OnnxTR does (onnxruntime 1.32 segfaults on a
        float16 CRNN on the CPU); ocrdoctor opens it in a child process, so it survives.
    Why it matters:
        onnxruntime and OnnxTR refuse the file when the service starts, or, for some graph
        errors, fail at the first request.
    Fix:
        Export again from the checkpoint with `ocrdoctor export CKPT --arch NAME -o model.onnx`,
        which validates the result before writing it.
    Example:
        A model copied with a failed upload, or a graph edited by hand with a dangling input.
    """
    if facts.missing:
        raise Skip(facts.missing)
    if facts.problem:
        yield Problem(facts.problem, fix=EXPORT)
    elif facts.checker_error:
        yield Problem(f"onnx.checker rejects the model: {facts.checker_error}", fix=EXPORT)
    elif facts.runtime_error:
        yield Problem(f"onnxruntime cannot run the model: {facts.runtime_error}",
                      fix=f"{EXPORT}  # float32 (without --fp16) for the CPU provider")


@check(
    "OD402", "static-batch", Severity.WARNING, "onnx",
    applicability=SAFE,
    bad=[ex.exported("batch-fixed-at-1", dynamic_batch=False)],
    good=[ex.exported("dynamic-batch")],
)
def static_batch(facts: OnnxFacts) -> Iterator[Problem]:
    """The batch dimension of an input or output is a fixed number.

    What it detects:
        An input or output whose first dimension is a number (usually 1) instead of a named,
        dynamic axis: `torch.onnx.export` without `dynamic_axes`.
    Why it matters:
        docTR and OnnxTR run recognition on batches of word crops (and detection on batches of
        pages): a graph fixed at batch 1 fails with "Got invalid dimensions for input" on the
        first page with two words, or forces one crop per call, many times slower.
    Fix:
        Export with a dynamic batch axis: `ocrdoctor export` does, as does docTR's
        `export_model_to_onnx`; with torch directly,
        `dynamic_axes={"input": {0: "batch_size"}, "logits": {0: "batch_size"}}`.
    Example:
        `torch.onnx.export(model, torch.rand(1, 3, 32, 128), "reco.onnx")`.
    """
    _readable(facts)
    fixed = [p for p in (*facts.inputs, *facts.outputs) if p.static_batch]
    if fixed:
        names = ", ".join(f"{p.name}{list(p.shape)}" for p in fixed)
        axes = ", ".join(f'"{p.name}": {{0: "batch_size"}}' for p in (*facts.inputs, *facts.outputs))
        if not facts.from_doctr:  # ocrdoctor export rebuilds docTR models only: the graph's own framework re-exports
            yield Problem(
                f"the batch dimension is fixed at {fixed[0].shape[0]} in {names}, in {facts.origin}: a runtime "
                "feeding it batches fails; its own pipeline may feed one image at a time",
                location=", ".join(p.name for p in fixed),
                fix="Re-export it with a dynamic batch axis from the framework that made it, or feed it one image "
                    "per call", advice=True)
            return
        yield Problem(
            f"the batch dimension is fixed at {fixed[0].shape[0]} in {names}: batches of pages or word crops will fail",
            location=", ".join(p.name for p in fixed),
            fix=f"{EXPORT}  # or torch.onnx.export(..., dynamic_axes={{{axes}}})",
        )


@check(
    "OD403", "onnx-parity", Severity.ERROR, "onnx",
    applicability=NUMERICS,
    bad=[ex.onnx_facts("logits-differ", parity=Parity("logits", max_diff=0.8, scale=12.0, tolerance=1e-4,
                                                       samples="2 sample pages"))],
    good=[ex.onnx_facts("matches", parity=Parity("logits", 3e-6, 12.0, 1e-4, "2 sample pages")),
          ex.onnx_facts("float16-within-its-tolerance", parity=Parity("logits", 4e-3, 12.0, 1e-3, "2 sample pages"))],
)
def onnx_parity(facts: OnnxFacts) -> Iterator[Problem]:
    """The export's outputs differ from the PyTorch model's beyond tolerance on the same input.

    What it detects:
        onnxruntime and PyTorch eager fed the same sample pages (or word crops) disagree by more
        than the tolerance, relative to the largest output value: 1e-4 for a float32 export,
        1e-2 for float16. Measured by `ocrdoctor export`, which has both models; a plain
        `ocrdoctor check model.onnx` has no PyTorch model to compare with and skips it.
    Why it matters:
        The deployed model is not the validated one: a traced branch frozen on the dummy
        input, an operator the exporter translated differently, or weights that overflowed in
        float16 give different text, silently.
    Fix:
        Re-export from the checkpoint in float32 (`ocrdoctor export CKPT --arch NAME`), with
        the model in eval mode and FAST reparameterized; compare again before shipping.
    Example:
        A float16 export whose detection logits overflow to inf where PyTorch gives 60000.
    """
    _readable(facts)
    if facts.parity is None:
        raise Skip(f"no PyTorch model to compare with: `{EXPORT}` measures it")
    p = facts.parity
    if not p.ok:
        yield Problem(
            f"onnxruntime differs from PyTorch by {p.max_diff:.3g} in {p.output} on {p.samples} "
            f"(largest value {p.scale:.3g}, tolerance {p.tolerance:.0e} of it)",
            location=p.output,
            fix=f"{EXPORT}  # float32, eval mode, then compare again",
        )


@check(
    "OD404", "provider-fallback", Severity.WARNING, "onnx",
    applicability=SAFE,
    bad=[
        ex.onnx_facts("cpu-onnxruntime-on-gpu-box", requested_providers=GPU_BOX, session_providers=(CPU_PROVIDER,)),
        ex.onnx_facts("session-failed", requested_providers=GPU_BOX,
                      session_error="libcudnn.so.9: cannot open shared object file"),
    ],
    good=[ex.onnx_facts("cuda-session", requested_providers=GPU_BOX, session_providers=GPU_BOX)],
)
def provider_fallback(facts: OnnxFacts) -> Iterator[Problem]:
    """The onnxruntime session runs on another execution provider than the one requested.

    What it detects:
        On a machine with an NVIDIA GPU, a session asked for `CUDAExecutionProvider` ends up on
        `CPUExecutionProvider` only: the CPU-only `onnxruntime` package is installed instead of
        `onnxruntime-gpu`, or the CUDA provider failed to load (a missing cuDNN or CUDA library)
        and onnxruntime fell back with nothing more than a log line.
    Why it matters:
        The export runs on the CPU while the GPU waits, and nothing fails (`ocrdoctor bench`
        on the OnnxTR deployment measures it). OnnxTR picks the CUDA provider only when
        onnxruntime offers it.
    Fix:
        `pip uninstall -y onnxruntime && pip install onnxruntime-gpu`, with the CUDA and cuDNN
        versions that onnxruntime-gpu release requires.
    Example:
        `pip install onnxtr[cpu]` on a GPU server.
    """
    _readable(facts)
    wanted = [p for p in facts.requested_providers if p != CPU_PROVIDER]
    if not wanted:
        raise Skip("only the CPU provider was requested (no GPU on this machine)")
    if facts.session_error:
        yield Problem(f"no onnxruntime session with {wanted[0]}: {facts.session_error}", location=wanted[0],
                      fix="pip uninstall -y onnxruntime && pip install onnxruntime-gpu")
    elif wanted[0] not in facts.session_providers:
        active = ", ".join(facts.session_providers) or "none"
        yield Problem(f"asked for {wanted[0]}, the session runs on {active}: the model runs on the CPU",
                      location=wanted[0], fix="pip uninstall -y onnxruntime && pip install onnxruntime-gpu")
