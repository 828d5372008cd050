"""`ocrdoctor.optimize(predictor)`: every safe speed fix at once, then proof on a sample page.

The predictor is put in eval mode first (a correctness fix, and the reference must not
update BatchNorm statistics), its models' outputs on a synthetic page and word crops are
recorded, then FAST is reparameterized and the predictor moved to one device and cast to one
dtype. The same inputs are run again: detection probabilities and recognition character
probabilities must stay within a tolerance (1e-3 in float32, 2e-2 in 16-bit), and the words
read from the crops are compared. The predictor is changed in place, as `.cuda()` is.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from ..anatomy.halfcpu import on_this_cpu
from ..anatomy.versions import FAST_FUSION_UNSOUND, fast_fusion_sound
from ..core.registry import one_line
from ..inspect.model import NotAModel, fast_unfused, inspect_model, model_parts
from .proof import read_samples, readings_proof

TOLERANCE = {"float32": 1e-3, "float16": 2e-2, "bfloat16": 2e-2}
DTYPES = ("auto", "float32", "float16", "bfloat16")
CROPS = 4


class OptimizeError(ValueError):
    """The predictor cannot be optimized as asked; one line."""


class ToleranceWarning(UserWarning):
    """The optimized predictor's outputs moved more than the tolerance on the sample page."""


@dataclass(frozen=True)
class Comparison:
    """One model's outputs on the sample, before and after."""

    path: str
    role: str
    max_diff: float          # largest change in a probability (detection map or character)
    words_same: int = 0      # recognition: words read identically from the sample crops
    words: int = 0

    def describe(self, tolerance: float) -> str:
        what = "probabilities" if self.role == "detection" else "character probabilities"
        text = f"{self.path}: {what} within {self.max_diff:.2g} (tolerance {tolerance:.0e})"
        return text + (f", {self.words_same} of {self.words} words identical" if self.words else "")


@dataclass(frozen=True)
class OptimizeResult:
    predictor: Any
    device: str
    dtype: str
    changes: tuple[str, ...]
    comparisons: tuple[Comparison, ...]
    tolerance: float
    unchecked: str | None = None  # why no comparison could run, if none could
    reading: Any = None  # ReadingProof: the whole predictor's words on the pair's sample pages, before and after

    @property
    def ok(self) -> bool:
        same_words = self.reading is None or self.reading.holds
        return same_words and all(c.max_diff <= self.tolerance and c.words_same == c.words for c in self.comparisons)

    def describe(self) -> str:
        changes = "; ".join(self.changes) or "nothing to change"
        lines = [f"optimized for {self.device}, {self.dtype}: {changes}"]
        if self.unchecked:
            lines.append(f"not compared: {self.unchecked}")
        for c in self.comparisons:
            lines.append(f"sample page: {c.describe(self.tolerance)}")
        if self.reading is not None:
            lines.append(f"in words: {self.reading.describe()}")
        note = on_this_cpu(self.dtype) if self.device == "cpu" else None
        if note:
            lines.append(f"note: {note}")
        if self.comparisons:
            lines.append("within tolerance" if self.ok else "OUTSIDE tolerance: check accuracy on your own pages "
                         "before deploying (or keep float32)")
        return "\n".join(lines)


def optimize(predictor: Any, device: str = "auto", dtype: str = "auto", *, verbose: bool = True,
             strict: bool = False) -> Any:
    """The predictor in eval mode, on one device, in one dtype, FAST reparameterized; checked on a sample page.

    device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N". dtype: "auto" (float16 on a
    GPU with tensor cores, else float32), "float32", "float16" or "bfloat16". Prints what changed
    and how far the outputs moved (verbose); outside the tolerance it warns (ToleranceWarning),
    or raises OptimizeError with strict=True.
    """
    result = optimize_report(predictor, device, dtype)
    if verbose:
        print(result.describe())
    if not result.ok:
        message = "optimized predictor outside tolerance on the sample page: " + "; ".join(
            [c.describe(result.tolerance) for c in result.comparisons]
            + ([result.reading.describe()] if result.reading is not None and not result.reading.holds else []))
        if strict:
            raise OptimizeError(message)
        warnings.warn(message, ToleranceWarning, stacklevel=2)
    return result.predictor


def optimize_report(predictor: Any, device: str = "auto", dtype: str = "auto") -> OptimizeResult:
    """What `optimize` does, returned instead of printed."""
    import torch

    facts = inspect_model(predictor)  # NotAModel for what cannot be optimized
    device, dtype = _resolve(device, dtype, torch)
    parts = model_parts(predictor, "predictor")
    changes = []
    training = sum(len(c.training) for c in facts.components)
    if training:
        predictor.eval()
        changes.append(f"eval mode ({training} module{'s' if training != 1 else ''} were training)")
    samples, unchecked = _samples(parts)
    read_before = read_samples(predictor)
    try:
        before = {path: _outputs(model, x) for path, (model, x) in samples.items()}
    except Exception as exc:  # e.g. weights on the meta device, or split across devices
        before, unchecked = {}, f"the predictor as given cannot run the sample: {one_line(exc)}"
    for _role, model, path, _ in parts:
        if fast_unfused(model) and not fast_fusion_sound():
            changes.append(f"left FAST in its training form ({path}): {FAST_FUSION_UNSOUND}")
        elif fast_unfused(model):
            from ..anatomy.untrained import reparameterize_keeping_evidence

            reparameterize_keeping_evidence(model)
            changes.append(f"reparameterized FAST ({path})")
    changes += _placement(facts, device, dtype)
    placed = _tensor_placement(predictor)
    try:
        predictor.to(device=device, dtype=getattr(torch, dtype))
    except (RuntimeError, NotImplementedError) as exc:
        _restore(placed)
        raise OptimizeError(f"cannot move the predictor to {device}, {dtype}: {one_line(exc)}") from None
    try:
        comparisons = tuple(_compare(path, role, before[path], _outputs(model, samples[path][1]))
                            for role, model, path, _ in parts if path in before)
    except RuntimeError as exc:  # an operator without a kernel for this dtype here (torch 2.4: LSTM in bfloat16)
        _restore(placed)
        raise OptimizeError(f"the predictor on {device} in {dtype} fails on the sample page: {one_line(exc)}; "
                            "it was moved back, keep its dtype") from None
    read_after = read_samples(predictor) if read_before is not None else None
    reading = readings_proof(read_before, read_after) if read_after is not None else None
    return OptimizeResult(predictor, device, dtype, tuple(changes), comparisons, TOLERANCE[dtype], unchecked, reading)


def _tensor_placement(predictor: Any) -> list[tuple[Any, str, str, Any, Any]]:
    """Where every parameter and buffer lives, so a failed move can be undone (`.to` replaces buffers)."""
    subs = {id(s): s for _, m, _, _ in model_parts(predictor, "predictor") for s in m.modules()}
    return [(sub, kind, name, t.device, t.dtype) for sub in subs.values()
            for kind in ("_parameters", "_buffers") for name, t in getattr(sub, kind).items() if t is not None]


def _restore(placed: list[tuple[Any, str, str, Any, Any]]) -> None:
    for sub, kind, name, device, dtype in placed:
        tensor = getattr(sub, kind)[name]
        if kind == "_parameters":
            tensor.data = tensor.data.to(device=device, dtype=dtype)
        else:
            sub._buffers[name] = tensor.to(device=device, dtype=dtype)


def _resolve(device: str, dtype: str, torch: Any) -> tuple[str, str]:
    if dtype not in DTYPES:
        raise OptimizeError(f"unknown dtype '{dtype}' (one of {', '.join(DTYPES)})")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise OptimizeError(f"device '{device}' asked for, but torch.cuda.is_available() is False (see `ocrdoctor "
                            "env`)")
    if device != "cpu" and not device.startswith("cuda"):
        raise OptimizeError(f"unknown device '{device}' (auto, cpu, cuda or cuda:N)")
    if dtype == "auto":
        tensor_cores = device.startswith("cuda") and torch.cuda.get_device_capability(torch.device(device)) >= (7, 0)
        dtype = "float16" if tensor_cores else "float32"
    return device, dtype


def _placement(facts: Any, device: str, dtype: str) -> list[str]:
    devices = sorted({d for c in facts.components for d in c.devices})
    dtypes = sorted({d for c in facts.components for d in c.dtypes})
    out = []
    if devices != [device] and not (device == "cuda" and devices == ["cuda:0"]):
        out.append(f"moved from {', '.join(devices)} to {device}")
    if dtypes != [dtype]:
        out.append(f"cast from {', '.join(dtypes)} to {dtype}")
    return out


def _samples(parts: list) -> tuple[dict[str, tuple[Any, Any]], str | None]:
    """For each model, its sample input as its own pre-processor prepares it (page or word crops)."""
    from .samples import sample_images

    samples, reasons = {}, []
    for role, model, path, pre in parts:
        if pre is None or role == "model":
            reasons.append(f"{path} is not a docTR detection or recognition model with a pre-processor")
            continue
        samples[path] = (model, pre[0](sample_images(role, 1 if role == "detection" else CROPS))[0])
    return samples, ("; ".join(reasons) or None) if not samples else None


def _outputs(model: Any, x: Any) -> tuple[Any, list[str]]:
    """Probabilities (detection map, or softmax over characters) on the CPU in float32, and the words read."""
    import torch

    param = next(model.parameters())
    with torch.no_grad():
        out = model(x.to(device=param.device, dtype=param.dtype), return_model_output=True, return_preds=True)
    probs = out["out_map"].float().cpu()
    if ".recognition." in type(model).__module__:
        return probs.softmax(-1), [w for w, _ in out["preds"]]
    return probs, []


def _compare(path: str, role: str, before: tuple, after: tuple) -> Comparison:
    (p0, w0), (p1, w1) = before, after
    diff = float((p0 - p1).abs().max()) if p0.shape == p1.shape else float("inf")
    return Comparison(path, role, diff, sum(a == b for a, b in zip(w0, w1, strict=False)), len(w0))


__all__ = ["NotAModel", "OptimizeError", "OptimizeResult", "ToleranceWarning", "optimize", "optimize_report"]
