"""Reads an ONNX file into facts: readable, valid, its inputs and outputs, and where it would run.

onnx.checker decides validity; an onnxruntime session, opened in a child process (see
ortrun) as OnnxTR opens it, decides whether the model loads and on which provider it runs. Parity with a PyTorch
model needs that model: `ocrdoctor export` fills it in; a plain check leaves it empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.registry import one_line

CPU_PROVIDER = "CPUExecutionProvider"
GPU_PROVIDERS = ("CUDAExecutionProvider",)


@dataclass(frozen=True)
class Port:
    """A graph input or output: its name, element type and shape (ints, or names for dynamic axes)."""

    name: str
    dtype: str
    shape: tuple[int | str | None, ...]

    @property
    def static_batch(self) -> bool:
        return bool(self.shape) and isinstance(self.shape[0], int) and self.shape[0] > 0


@dataclass(frozen=True)
class Parity:
    """The export against its PyTorch model on the same input."""

    output: str
    max_diff: float
    scale: float        # the largest magnitude in the PyTorch output
    tolerance: float    # allowed max_diff, relative to scale
    samples: str        # what was fed, e.g. "2 sample pages"

    @property
    def ok(self) -> bool:
        return self.max_diff <= self.tolerance * max(self.scale, 1.0)


@dataclass(frozen=True)
class OnnxFacts:
    path: str
    size: int = 0
    missing: str | None = None          # this machine lacks what reads ONNX: nothing can be said
    problem: str | None = None          # cannot be read at all
    checker_error: str | None = None    # read, but onnx.checker rejects it
    opset: int | None = None
    producer: str = ""
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    float16: bool = False
    requested_providers: tuple[str, ...] = ()
    session_providers: tuple[str, ...] = ()
    session_error: str | None = None   # the requested GPU session could not be opened
    runtime_error: str | None = None   # onnxruntime could not open or run the model at all
    parity: Parity | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # the graph's metadata_props (docTR's config, recorded)

    @property
    def from_doctr(self) -> bool:
        """A docTR or OnnxTR export: its config recorded by `ocrdoctor export`, or docTR's own port names (an `input`
        of (batch, 3, H, W) and `logits`, as docTR's export_model_to_onnx and OnnxTR's published models name them)."""
        if "arch" in self.metadata:
            return True
        return [p.name for p in self.inputs] == ["input"] and any(p.name == "logits" for p in self.outputs)

    @property
    def origin(self) -> str:
        """What made the graph, for the report: a docTR export, or another framework's graph."""
        if self.from_doctr:
            return f"a docTR export ({self.metadata['arch']})" if "arch" in self.metadata else "a docTR export"
        return f"another framework's graph ({self.producer or 'producer unknown'}): not a docTR or OnnxTR export"

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": "onnx", "bytes": self.size}
        if self.inputs:
            out["origin"] = self.origin
        if self.opset is not None:
            ports = ", ".join(f"{p.name}[{', '.join(str(d) for d in p.shape)}]" for p in self.inputs)
            out["graph"] = f"opset {self.opset}, {'float16' if self.float16 else 'float32'}, {ports}"
        return out


def inspect_onnx(path: str | Path, providers: Sequence[str] | None = None, open_session: bool = True) -> OnnxFacts:
    """Facts about the file at `path`; never raises. `providers` defaults to what this machine wants.

    The session, opened with OnnxTR's settings in a child process, tells which provider it got
    and whether onnxruntime can load the model at all.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return OnnxFacts(str(path), problem=one_line(exc))
    if size == 0:
        return OnnxFacts(str(path), problem="empty file (0 bytes)")
    try:
        import onnx
    except ImportError:
        return OnnxFacts(str(path), size, missing='the onnx package is not installed: pip install "ocrdoctor[onnx]"')
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: not an ONNX file
        return OnnxFacts(str(path), size, problem=f"not a readable ONNX model: {one_line(exc)}")
    facts = _graph_facts(model, str(path), size)
    checker_error = _checker_error(onnx, path)
    requested = tuple(providers) if providers is not None else wanted_providers()
    facts.update(checker_error=checker_error, requested_providers=requested)
    if not checker_error and open_session:
        session, error = _session_providers(path, requested)
        gpu = requested != (CPU_PROVIDER,)
        facts.update(session_providers=session, session_error=error if gpu else None,
                     runtime_error=None if gpu else error)
    return OnnxFacts(**facts)


def _graph_facts(model: Any, path: str, size: int) -> dict[str, Any]:
    from onnx import TensorProto

    inits = {i.name for i in model.graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "path": path, "size": size, "opset": opset,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": tuple(_port(v) for v in model.graph.input if v.name not in inits),
        "outputs": tuple(_port(v) for v in model.graph.output),
        "float16": any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }


def _port(value: Any) -> Port:
    from onnx import TensorProto

    t = value.type.tensor_type
    shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
    return Port(value.name, TensorProto.DataType.Name(t.elem_type).lower(), shape)


def _checker_error(onnx: Any, path: Path) -> str | None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        return one_line(exc)
    return None


def wanted_providers() -> tuple[str, ...]:
    """What a deployment on this machine should ask for: a GPU provider when a GPU is usable or present."""
    from .environment import inspect_environment

    env = inspect_environment()
    return (*GPU_PROVIDERS, CPU_PROVIDER) if env.gpus or env.cuda_available else (CPU_PROVIDER,)


def _session_providers(path: Path, requested: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    from .ortrun import OrtFailure, run_isolated

    try:
        return run_isolated(path, requested).providers, None
    except OrtFailure as exc:
        return (), str(exc)
