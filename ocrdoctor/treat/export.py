"""`ocrdoctor export`: a checkpoint to an ONNX file that is proven to match it.

The model is built from the checkpoint as a deployment builds it (strict load, FAST
reparameterized, eval mode), exported through docTR's own `export_model_to_onnx` with a
dynamic batch axis (float16 by converting the float32 graph with onnxconverter-common, so no
GPU is needed), then, still under a temporary name, checked by onnx.checker, run in
onnxruntime beside PyTorch on the same sample pages (a batch of two: the batch axis is
exercised too), timed, and put through the OD4xx rules. Only an export without an
error-severity finding is renamed into place.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..anatomy.architectures import arch_names
from ..core.findings import Report, Severity
from ..core.plan import Plan
from ..core.registry import one_line
from ..core.timing import Spread, spread_seconds
from ..core.units import count, human_bytes
from ..inspect.checkpoint import facts_of
from ..inspect.onnx import CPU_PROVIDER, OnnxFacts, Parity, inspect_onnx, wanted_providers
from ..inspect.ortrun import OrtFailure, run_isolated
from ..inspect.vocab import VocabError, with_vocab
from ..read.checkpoint import read_checkpoint
from .build import BuildError, build_model, stand_in_vocab
from .fix import FixError, check_output, temp_path

NOT_TIMED = Spread(0.0, 0.0, 0.0)

TOLERANCE = {False: 1e-4, True: 1e-2}  # of the largest output value; float32, float16
SAMPLES = 2
# Kept in float32 by --fp16: onnxruntime has no float16 CPU kernel for them (1.32 crashes
# creating a session for a float16 LSTM, as in docTR's CRNN).
FLOAT32_OPS = ("LSTM", "GRU", "RNN")


class ExportError(FixError):
    """The export was refused or failed; one line, nothing written."""


@dataclass(frozen=True)
class ExportResult:
    output: Path
    arch: str
    task: str
    float16: bool
    written: bool
    facts: OnnxFacts | None  # None: the checkpoint was refused before any export
    onnx_seconds: float
    torch_seconds: float
    repeat: int
    report: Report
    proof: str | None = None  # the words (or boxes) PyTorch and the export read on the pair's samples
    onnx_spread: Spread = NOT_TIMED  # fastest, median, slowest of the timed runs
    torch_spread: Spread = NOT_TIMED
    onnxtr: str = ""  # the OnnxTR line that serves it, given the model's own cfg and vocab

    def describe(self) -> str:
        if self.facts is None:
            return (f"not exported: the checkpoint cannot be built as {self.arch} (the findings say why); "
                    "nothing written")
        f, p = self.facts, self.facts.parity
        dtype = "float16" if self.float16 else "float32"
        batch = "dynamic batch" if not any(x.static_batch for x in f.inputs) else "static batch"
        head = "exported" if self.written else "not written: the export failed verification;"
        lines = [f"{head} {self.arch} to {self.output} ({human_bytes(f.size)}, {dtype}, opset {f.opset}, {batch})"]
        if p is not None:
            lines.append(f"compared on {p.samples}: largest difference {p.max_diff:.3g} in {p.output} "
                         f"(largest value {p.scale:.3g}; tolerance {p.tolerance:.0e} of it)")
        if self.onnx_seconds and self.torch_seconds:
            provider = (f.session_providers or (CPU_PROVIDER,))[0]
            lines.append(
                f"latency, batch of {SAMPLES}, median of {self.repeat}: onnxruntime {self.onnx_seconds * 1e3:.0f} ms "
                f"({provider}), PyTorch eager {self.torch_seconds * 1e3:.0f} ms: {self._speed()}")
        if self.float16 and f.session_providers[:1] == (CPU_PROVIDER,):
            lines.append("note: float16 runs slower than float32 on the CPU provider; --fp16 is for GPU serving")
        if self.proof:
            lines.append(f"in words: {self.proof}")
        if self.written:
            lines.append(f"use it with OnnxTR: {self.onnxtr or onnxtr_snippet(self.arch, self.output)}")
        return "\n".join(lines)

    def _speed(self) -> str:
        """The ratio of medians, with its range over the runs; a range that holds 1.00x is no measurable change."""
        ratio = f"{self.torch_seconds / self.onnx_seconds:.2f}x the speed of eager"
        if self.repeat < 2:
            return f"{ratio} (one timed run, so no spread: --repeat 5 tells noise from a gain)"
        if not self.onnx_spread.slowest:
            return ratio
        low, high = self.torch_spread.ratio_range(self.onnx_spread)
        if low <= 1.0 <= high:
            return f"no measurable difference ({low:.2f}x-{high:.2f}x over the runs)"
        return f"{ratio} ({low:.2f}x-{high:.2f}x over the runs)"


def onnxtr_snippet(arch: str, path: Path, model: Any = None) -> str:
    """OnnxTR's class over the export, given what differs from its defaults (docTR's): the vocab, the input
    size, mean and std the model was trained with. Runs as pasted."""
    import sys

    default = getattr(sys.modules.get(type(model).__module__), "default_cfgs", {}).get(arch, {}) if model else {}
    cfg = getattr(model, "cfg", None) or {}
    vocab = getattr(model, "vocab", None)
    kwargs = f", vocab={vocab!r}" if isinstance(vocab, str) and vocab != default.get("vocab") else ""
    unknown = isinstance(vocab, str) and vocab == stand_in_vocab(len(vocab))  # the checkpoint stored none (OD117)
    if unknown:
        kwargs = ", vocab=VOCAB"
    changed = {k: tuple(cfg[k]) for k in ("input_shape", "mean", "std")
               if k in cfg and k in default and tuple(cfg[k]) != tuple(default[k])}
    line = f'from onnxtr.models import {arch}; model = {arch}("{path}"{kwargs})'
    if changed:
        line += "; model.cfg = {**model.cfg, " + ", ".join(f"{k!r}: {v!r}" for k, v in changed.items()) + "}"
    if unknown:
        line += "  # VOCAB: the characters it was trained with (the checkpoint stores none, OD117)"
    return line


def export_onnx(source: str | Path, arch: str, output: str | Path, *, plan: Plan, fp16: bool = False,
                force: bool = False, repeat: int = 5, key: tuple | None = None,
                progress: Callable[[str], None] | None = None, vocab: str | None = None) -> ExportResult:
    """Export, verify, time and check under `plan` (its checkpoint and ONNX rules); raises ExportError for a
    refused or failed export. `progress(phase)` is told each phase as it starts.

    A checkpoint that cannot become `arch` (OD113: its keys, OD118: its vocab, ...) is not an
    error of the run: the result carries those findings, nothing is written, and the exit is 1.
    """
    source, output = Path(source), Path(output)
    if arch not in arch_names():
        raise ExportError(f"unknown architecture '{arch}' (known: {', '.join(arch_names())})")
    if not source.is_file():
        raise ExportError(f"path not found: {source}")
    check_output(source, output, force)
    _require_onnx()
    say = progress or (lambda phase: None)
    say(f"reading {source.name} and building {arch}")
    with read_checkpoint(source, plan.limits) as ckpt:
        try:
            facts = with_vocab(facts_of(ckpt, arch, key, plan.settings.trusted_globals), vocab)
        except VocabError as exc:
            raise ExportError(str(exc)) from None
        refused = _refusal(facts, source, plan)
        if refused is not None:
            return ExportResult(output, arch, "", fp16, False, None, 0.0, 0.0, repeat, refused)
        try:
            model = exportable_model(build_model(ckpt, arch, facts, any_vocab=True))
        except BuildError as exc:
            raise ExportError(str(exc)) from None
    task = "detection" if ".detection." in type(model).__module__ else "recognition"
    batch, what = sample_batch(model, task)
    tmp = temp_path(output)
    try:
        say("exporting through torch.onnx")
        export_graph(model, batch[:1], tmp, arch)
        record_config(tmp, model, arch, task)
        if fp16:
            say("converting to float16")
            _to_float16(tmp)
        say(f"checking the graph and running it in onnxruntime against PyTorch ({repeat} timed runs each)")
        facts, onnx_t, torch_t = _verify(tmp, model, batch, what, fp16, repeat)
        facts = replace(facts, path=str(output))
        result = plan.judge("onnx", facts, str(output))
        written = not any(f.severity is Severity.ERROR for f in result.findings)
        if written:
            say("reading the sample words with PyTorch and with the export")
        proof = _reading_proof(model, tmp) if written else None
        if written:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(output, arch, task, fp16, written, facts, onnx_t.median, torch_t.median, repeat,
                        plan.report((result,)), proof, onnx_t, torch_t, onnxtr_snippet(arch, output, model))


def _reading_proof(model: Any, path: Path) -> str:
    """PyTorch and the export (inside docTR's pipeline) on the pair's samples: the words they read. Run only
    after the isolated session ran the export, so onnxruntime is known not to crash on it."""
    from .onnxside import onnx_model
    from .proof import prove

    model.exportable = False  # docTR's own forward for the PyTorch side, and the twin's post-processor
    try:
        return prove(model, onnx_model(path, model)).describe()
    except (BuildError, RuntimeError) as exc:
        return f"not proven in words: {one_line(exc)}"
    finally:
        model.exportable = True


def _refusal(facts, source: Path, plan: Plan) -> Report | None:
    """The checkpoint's error findings, when it cannot be built as the architecture asked for."""
    if facts.members:
        names = ", ".join(m.member for m in facts.members)
        raise ExportError(f"{source} holds {count(len(facts.members), 'model')} ({names}): pick one with --key")
    result = plan.judge("checkpoint", facts, str(source))
    if any(f.severity is Severity.ERROR for f in result.findings):
        return plan.report((result,))
    return None


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ExportError('ocrdoctor export needs onnx and onnxruntime: pip install "ocrdoctor[onnx]"') from None


def exportable_model(model: Any) -> Any:
    """Eval mode, FAST fused, returning raw logits (docTR's `exportable` switch)."""
    from ..anatomy.versions import fast_fusion_sound
    from ..inspect.model import fast_unfused

    if not hasattr(model, "exportable"):
        raise ExportError(f"{type(model).__name__} has no ONNX export mode in this docTR")
    if fast_unfused(model) and fast_fusion_sound():  # docTR 0.8: exported in its training form, outputs intact
        from doctr.models.detection.fast import reparameterize

        model = reparameterize(model)
    model = model.float().eval()
    model.exportable = True
    return model


def sample_batch(model: Any, task: str) -> tuple[Any, str]:
    """Two synthetic pages (detection) or word crops (recognition), pre-processed as docTR's predictors do."""
    from doctr.models.preprocessor import PreProcessor

    from .samples import sample_images

    cfg = model.cfg
    pre = PreProcessor(tuple(cfg["input_shape"][-2:]), SAMPLES, mean=cfg["mean"], std=cfg["std"],
                       preserve_aspect_ratio=True, symmetric_pad=task == "detection")
    what = f"{SAMPLES} sample {'pages' if task == 'detection' else 'word crops'}"
    return pre(sample_images(task, SAMPLES))[0], what


def export_graph(model: Any, dummy: Any, tmp: Path, arch: str) -> None:
    """docTR's export_model_to_onnx into `tmp` (which it names itself: it appends .onnx)."""
    import torch
    from doctr.models.utils import export_model_to_onnx

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about docTR's code, not about this export
            export_model_to_onnx(model, str(tmp)[: -len(".onnx")] if tmp.suffix == ".onnx" else str(tmp), dummy)
        if tmp.suffix != ".onnx":
            tmp.with_name(tmp.name + ".onnx").replace(tmp)
    except OSError as exc:  # a full disk, a vanished folder: not docTR's fault
        raise ExportError(f"could not write {tmp.parent}: {one_line(exc)}") from None
    except Exception as exc:
        raise ExportError(f"docTR could not export {arch} to ONNX: {one_line(exc)}") from None


def record_config(path: Path, model: Any, arch: str, task: str) -> None:
    """docTR's config keys (arch, task, input_shape, mean, std, vocab) in the graph's metadata, as `fix`
    writes them in safetensors metadata: an OnnxTR deployment can be built and checked from the file
    alone (ocrdoctor check --det/--reco, OD505, OD506)."""
    import json

    import onnx

    cfg = getattr(model, "cfg", None) or {}
    values = {"arch": arch, "task": task, **{k: json.dumps([float(v) if k != "input_shape" else int(v) for v in cfg[k]])
                                             for k in ("input_shape", "mean", "std") if k in cfg}}
    vocab = getattr(model, "vocab", None)
    if isinstance(vocab, str) and vocab != stand_in_vocab(len(vocab)):  # a stand-in only shaped the head
        values["vocab"] = vocab
    graph = onnx.load(str(path))
    for key, value in values.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(graph, str(path))


def _to_float16(path: Path) -> None:
    """Weights and activations in float16; inputs and outputs stay float32 for any caller."""
    import onnx

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise ExportError('--fp16 needs onnxconverter-common: pip install "ocrdoctor[onnx]"') from None
    blocked = [*float16.DEFAULT_OP_BLOCK_LIST, *FLOAT32_OPS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one line per tiny weight truncated to 1e-7
        model = float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True, op_block_list=blocked)
    onnx.save(model, str(path))


def _verify(tmp: Path, model: Any, batch: Any, what: str, fp16: bool, repeat: int) -> tuple[OnnxFacts, float, float]:
    """The file's facts, with parity against PyTorch on `batch`, and both median latencies."""
    import numpy as np
    import torch

    requested = wanted_providers()
    facts = inspect_onnx(tmp, providers=requested, open_session=False)  # the run below opens it
    if facts.problem or facts.checker_error:
        return facts, NOT_TIMED, NOT_TIMED
    try:
        run = run_isolated(tmp, requested, batch.numpy(), repeat)
    except OrtFailure as exc:
        return replace(facts, runtime_error=str(exc)), NOT_TIMED, NOT_TIMED
    device = "cuda" if run.providers[0] == "CUDAExecutionProvider" else "cpu"
    model, x = model.to(device), batch.to(device)
    with torch.no_grad():
        expected = model(x)["logits"].float().cpu().numpy()
        sync = torch.cuda.synchronize if device == "cuda" else None
        torch_s = spread_seconds(lambda: model(x), repeat, sync=sync)
    got = run.output.astype(np.float32)
    if got.shape != expected.shape:
        raise ExportError(f"verification failed: onnxruntime gives {got.shape}, PyTorch {expected.shape}")
    diff = float(np.abs(got - expected).max()) if np.isfinite(got).all() else float("inf")
    parity = Parity("logits", diff, float(np.abs(expected).max()), TOLERANCE[fp16], what)
    return (replace(facts, parity=parity, session_providers=run.providers),
            Spread(run.fastest, run.seconds, run.slowest), torch_s)
