"""Facts about a live OnnxTR predictor, read from its sessions without running a page.

OnnxTR (docTR's models served by onnxruntime) keeps one `Engine` per model: the session, the
providers asked for (`EngineConfig`), the session options, a `run_options_provider` (0.9), the
model's `cfg` and the predictor's own pre-processor. Everything here is read from those objects
and from the graph at the engine's `model_path` (precision, and the docTR config ocrdoctor's
`export` records in its metadata); `load_in_8_bit` is not kept on the object and is never relied
on. What needs a reading (accuracy lost to 8-bit, real pre-processing drift) is `compare`'s.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..anatomy.pageoptions import PageOption, costly_options
from .model import NotAModel

CPU = "CPUExecutionProvider"
SHRINKAGE = "memory.enable_memory_arena_shrinkage"
INTEGER_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger",
               "ConvInteger", "DynamicQuantizeLinear")
ENV_VARIABLES = ("ONNXTR_MULTIPROCESSING_DISABLE", "ORT_LOG_SEVERITY_LEVEL", "ORT_INTRA_OP_NUM_THREADS",
                 "OMP_NUM_THREADS")


@dataclass(frozen=True)
class Session:
    """One OnnxTR engine: its session, its settings and the model it holds."""

    role: str  # detection | recognition | crop orientation | page orientation
    path: str  # "predictor.det_predictor.model"
    cls: str  # DBNet, CRNN, ...
    arch: str | None  # db_mobilenet_v3_large: the OnnxTR builder whose default cfg the engine holds
    model_path: str
    requested: tuple[str, ...]  # providers asked for, by name
    in_use: tuple[str, ...]  # session.get_providers()
    intra_threads: int  # as set: 0 or -1 is onnxruntime's default (one per physical core)
    inter_threads: int
    parallel: bool  # ExecutionMode.ORT_PARALLEL
    graph_level: str
    cpu_arena: bool
    shrinkage: str | None  # what run_options_provider sets for the arena shrinkage (None: nothing)
    run_options_error: str | None  # the provider raised on a fresh RunOptions
    input_dims: tuple = ()  # the graph input's dims: ints, or names for dynamic axes
    output_dims: tuple = ()
    precision: str | None = None  # float32 | float16 | int8 (from the graph; None: onnx not installed)
    cfg_input: tuple[int, int] | None = None  # the class's cfg: what OnnxTR builds its pre-processor from
    cfg_mean: tuple[float, ...] | None = None
    cfg_std: tuple[float, ...] | None = None
    pre_size: tuple[int, int] | None = None  # the predictor's pre-processor as it stands
    pre_mean: tuple[float, ...] | None = None
    pre_std: tuple[float, ...] | None = None
    vocab_size: int | None = None  # the recognition engine's vocab
    classes: int | None = None  # the detection engine's class count
    stored: dict[str, Any] = field(default_factory=dict)  # the docTR config recorded in the graph's metadata
    doctr: dict[str, Any] = field(default_factory=dict)  # docTR's default cfg for the same architecture
    default: dict[str, Any] = field(default_factory=dict)  # the OnnxTR class's own default cfg
    has_8_bit: bool | None = None  # OnnxTR ships an 8-bit model for this architecture

    @property
    def dynamic(self) -> bool:
        return any(not isinstance(d, int) for d in self.input_dims)

    @property
    def spatial(self) -> tuple[int, int] | None:
        """The graph's fixed input height and width (None when either is dynamic)."""
        dims = self.input_dims[-2:]
        return tuple(dims) if len(dims) == 2 and all(isinstance(d, int) for d in dims) else None


@dataclass(frozen=True)
class OnnxtrFacts:
    target: str
    sessions: tuple[Session, ...]
    onnxtr_version: str = ""
    cpus_usable: int = 1
    cpus_physical: int | None = None
    gpus: tuple[str, ...] = ()  # NVIDIA GPUs NVML sees on this machine
    variables: dict[str, str] = field(default_factory=dict)
    page_options: tuple[PageOption, ...] = ()  # OD212: options that multiply the work per page
    root: str = "predictor"  # the name fixes use for the object
    options: dict[str, bool] = field(default_factory=dict)  # ocr_predictor's page options where not its defaults

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"components": ", ".join(f"{s.role}: {s.cls}" for s in self.sessions),
                                  "providers": ", ".join(sorted({p for s in self.sessions for p in s.in_use[:1]}))}
        precisions = sorted({s.precision for s in self.sessions if s.precision})
        if precisions:
            out["dtypes"] = ", ".join(precisions)
        return out


def is_onnxtr(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "onnxtr"


def inspect_onnxtr(obj: Any, name: str = "predictor", environment: Any = None) -> OnnxtrFacts:
    """The facts of an OnnxTR OCR predictor, a detection / recognition predictor, or one model."""
    from ..anatomy.versions import installed
    from .environment import inspect_environment

    sessions = tuple(_session(role, model, path, pre) for role, model, path, pre in _engines(obj, name))
    if not sessions:
        raise NotAModel(f"{type(obj).__name__} holds no OnnxTR model")
    env = environment or inspect_environment()
    return OnnxtrFacts(
        target=f"OnnxTR {type(obj).__name__}", sessions=sessions, onnxtr_version=installed("onnxtr") or "",
        cpus_usable=env.cpus_usable, cpus_physical=env.cpus_physical, gpus=tuple(g.name for g in env.gpus),
        variables={k: os.environ[k] for k in ENV_VARIABLES if k in os.environ},
        page_options=tuple(costly_options(obj, name, package="onnxtr")), root=name, options=_options(obj),
    )


# ocr_predictor's page options and their defaults; the attribute each is kept in on the predictor
PAGE_DEFAULTS = {"assume_straight_pages": ("assume_straight_pages", True),
                 "straighten_pages": ("straighten_pages", False),
                 "detect_orientation": ("detect_orientation", False),
                 "disable_crop_orientation": ("_crop_orientation_disabled", False),
                 "disable_page_orientation": ("_page_orientation_disabled", False)}


def _options(obj: Any) -> dict[str, bool]:
    """The page options an OCR predictor holds where they are not ocr_predictor's defaults: a rebuild keeps them."""
    if getattr(obj, "det_predictor", None) is None or getattr(obj, "reco_predictor", None) is None:
        return {}
    found = {name: getattr(obj, attr, default) for name, (attr, default) in PAGE_DEFAULTS.items()}
    return {name: bool(value) for name, value in found.items() if bool(value) != PAGE_DEFAULTS[name][1]}


def _engines(obj: Any, name: str) -> list[tuple[str, Any, str, Any]]:
    """(role, engine, path, pre-processor) for each model the object holds."""
    found = []
    for attr, role in (("det_predictor", "detection"), ("reco_predictor", "recognition"),
                       ("crop_orientation_predictor", "crop orientation"),
                       ("page_orientation_predictor", "page orientation")):
        part = getattr(obj, attr, None)
        if part is not None and getattr(part, "model", None) is not None:
            found.append((role, part.model, f"{name}.{attr}.model", getattr(part, "pre_processor", None)))
    if found:
        return found
    if getattr(obj, "model", None) is not None and hasattr(obj.model, "runtime"):
        return [(_role(obj.model), obj.model, f"{name}.model", getattr(obj, "pre_processor", None))]
    if hasattr(obj, "runtime"):
        return [(_role(obj), obj, name, None)]
    return []


def _role(engine: Any) -> str:
    module = type(engine).__module__
    return "detection" if ".detection." in module else "recognition" if ".recognition." in module else "classification"


def _session(role: str, engine: Any, path: str, pre: Any) -> Session:
    options, runtime = engine.session_options, engine.runtime
    shrinkage, error = _run_options(engine)
    cfg = getattr(engine, "cfg", None) or {}
    inputs, outputs = runtime.get_inputs(), runtime.get_outputs()
    arch, default = _arch(engine, cfg)
    return Session(
        role=role, path=path, cls=type(engine).__name__, arch=arch, model_path=str(engine.model_path),
        requested=tuple(p[0] if isinstance(p, (tuple, list)) else str(p) for p in engine.providers or ()),
        in_use=tuple(runtime.get_providers()),
        intra_threads=int(options.intra_op_num_threads), inter_threads=int(options.inter_op_num_threads),
        parallel="PARALLEL" in str(options.execution_mode),
        graph_level=str(options.graph_optimization_level).split(".")[-1],
        cpu_arena=bool(options.enable_cpu_mem_arena), shrinkage=shrinkage, run_options_error=error,
        input_dims=tuple(inputs[0].shape) if inputs else (), output_dims=tuple(outputs[0].shape) if outputs else (),
        precision=_precision(engine.model_path),
        cfg_input=tuple(cfg["input_shape"][-2:]) if "input_shape" in cfg else None,
        cfg_mean=_floats(cfg.get("mean")), cfg_std=_floats(cfg.get("std")),
        pre_size=_pre_size(pre), pre_mean=_floats(getattr(getattr(pre, "normalize", None), "mean", None)),
        pre_std=_floats(getattr(getattr(pre, "normalize", None), "std", None)),
        vocab_size=len(engine.vocab) if isinstance(getattr(engine, "vocab", None), str) else None,
        classes=len(cfg["classes"]) if role == "detection" and isinstance(cfg.get("classes"), (list, tuple)) else None,
        stored=_stored(runtime), doctr=_doctr_cfg(arch), has_8_bit=("url_8_bit" in cfg) if arch else None,
        default={"input_shape": tuple(default["input_shape"][-2:]), "mean": _floats(default.get("mean")),
                 "std": _floats(default.get("std"))} if default else {},
    )


def _run_options(engine: Any) -> tuple[str | None, str | None]:
    """What the engine's run_options_provider sets on a fresh RunOptions for the arena shrinkage."""
    import onnxruntime as ort

    provider = getattr(engine, "run_options_provider", None)
    if provider is None:
        return None, None
    try:
        options = provider(ort.RunOptions())
    except Exception as exc:  # the user's callable failing is a fact, not a crash of the diagnosis
        return None, f"{type(exc).__name__}: {exc}"
    try:
        return options.get_run_config_entry(SHRINKAGE) or None, None
    except Exception:  # onnxruntime raises when the key was never set
        return None, None


def _arch(engine: Any, cfg: dict) -> tuple[str | None, dict]:
    """The OnnxTR builder whose default cfg the engine holds (the builders pass default_cfgs[arch]), and that cfg."""
    import sys

    table = getattr(sys.modules.get(type(engine).__module__), "default_cfgs", {})
    found = next((name for name, default in table.items() if default is cfg or default.get("url") == cfg.get("url")),
                 None)
    return found, table.get(found, {}) if found else {}


def _precision(model_path: str) -> str | None:
    """int8 when the graph quantizes, float16 when its weights are float16, else float32 (None: onnx missing)."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        graph = onnx.load(model_path, load_external_data=False).graph
    except Exception:  # an unreadable file is OD401's business: the session opened it anyway
        return None
    if any(node.op_type in INTEGER_OPS for node in graph.node):
        return "int8"
    halves = sum(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer)
    singles = sum(i.data_type == onnx.TensorProto.FLOAT for i in graph.initializer)
    return "float16" if halves > singles else "float32"


def _stored(runtime: Any) -> dict[str, Any]:
    """The docTR config ocrdoctor's export records in the graph's metadata (arch, mean, std, input_shape, vocab)."""
    try:
        return recorded_config(dict(runtime.get_modelmeta().custom_metadata_map))
    except Exception:
        return {}


def recorded_config(meta: dict[str, str]) -> dict[str, Any]:
    """docTR's config keys from an ONNX file's metadata map: strings as they are, shapes and statistics
    decoded from JSON; a key that does not decode is left out."""
    out: dict[str, Any] = {k: meta[k] for k in ("arch", "task", "vocab") if k in meta}
    for key in ("mean", "std", "input_shape"):
        try:
            if key in meta:
                out[key] = tuple(json.loads(meta[key]))
        except (ValueError, TypeError):
            continue
    return out


def _doctr_cfg(arch: str | None) -> dict[str, Any]:
    """docTR's default cfg for `arch` (input size, mean, std), when docTR is installed; {} otherwise."""
    import importlib.util
    import sys

    if arch is None or importlib.util.find_spec("doctr") is None:
        return {}
    try:
        import doctr.models  # noqa: F401  (registers every model module)
    except Exception:  # a broken docTR install is OD3xx's business
        return {}
    for name, module in list(sys.modules.items()):
        table = getattr(module, "default_cfgs", None) if name.startswith("doctr.models.") else None
        if isinstance(table, dict) and arch in table:
            cfg = table[arch]
            return {"input_shape": tuple(cfg["input_shape"][-2:]), "mean": _floats(cfg.get("mean")),
                    "std": _floats(cfg.get("std"))}
    return {}


def _pre_size(pre: Any) -> tuple[int, int] | None:
    size = getattr(getattr(pre, "resize", None), "output_size", None) or getattr(getattr(pre, "resize", None), "size",
                                                                                 None)
    return tuple(int(s) for s in size) if isinstance(size, (tuple, list)) and len(size) == 2 else None


def _floats(values: Any) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        return tuple(round(float(v), 6) for v in values)
    except (TypeError, ValueError):
        return None
