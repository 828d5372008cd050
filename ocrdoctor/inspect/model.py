"""Read a live docTR predictor or torch module into plain facts, without copying or moving a weight.

A docTR OCRPredictor / KIEPredictor holds a detection and a recognition predictor; each of
those holds a pre-processor and a model. Facts are gathered per model ("component"), so a rule
can say which one is on the wrong device, in which dtype, or in training mode.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..anatomy.halfcpu import native, torch_release
from ..anatomy.pageoptions import PageOption, costly_options, crop_orientation_runs, doctr_release
from ..anatomy.training import Training, training
from ..anatomy.untrained import Evidence, evidence, fused_evidence, live_leaves, recorded_evidence
from .pipeline import PostProcessing, features, postprocessing


class NotAModel(ValueError):
    """The object cannot be diagnosed; the message is one line, for the user."""


@dataclass(frozen=True)
class Preprocessing:
    size: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    preserve_aspect_ratio: bool | None = None
    symmetric_pad: bool | None = None
    source: str = ""  # what it was read from, for messages


@dataclass(frozen=True)
class Component:
    role: str  # detection | recognition | model
    path: str  # where it sits in the object, as code: "predictor.det_predictor.model"
    cls: str
    parameters: int
    devices: dict[str, int]  # device -> number of parameters and buffers there
    dtypes: dict[str, int]  # floating dtype -> number of parameters
    training: tuple[str, ...]  # behaviour-changing submodules left in training mode
    fast_unfused: int  # FAST multi-branch layers not reparameterized
    preprocessing: Preprocessing | None = None  # the predictor's pre-processor
    expected: Preprocessing | None = None  # what the model's cfg asks for
    trained_resize: Preprocessing | None = None  # the resize flags it was trained with (config, else docTR's factory)
    preprocessor_path: str | None = None
    arch: str | None = None  # the docTR architecture its weights fit (release tables), when identified
    untrained: Evidence | None = None  # exact evidence that every weight is at its initialization
    trained: Training | None = None  # per-block evidence of how much it was trained (OD213, OD214)
    postprocessing: PostProcessing | None = None  # a detector's thresholds (OD215)


@dataclass(frozen=True)
class ModelFacts:
    target: str
    components: tuple[Component, ...]
    cuda_available: bool
    gpu_capability: tuple[int, int] | None  # the best visible GPU's compute capability
    page_options: tuple[PageOption, ...] = ()  # options that multiply the work per page
    crop_orientation: bool = False  # the crop orientation classifier runs on every crop
    doctr_release: tuple[int, ...] = ()
    cpu_bf16: bool | None = None  # the CPU computes bfloat16 natively (AMX / AVX512-BF16); None: unknown
    cpu_fp16: bool | None = None  # the CPU computes float16 natively (AVX512-FP16 / AMX-FP16); None: unknown
    torch_release: tuple[int, ...] = ()
    features: tuple[str, ...] = ()  # docTR features in use that a release may break (OD216)

    @property
    def root(self) -> str:
        """The name the user holds the object under (`predictor`, `model`): what a fix's code starts with."""
        return self.components[0].path.split(".", 1)[0]

    def summary(self) -> dict[str, object]:
        return {
            "components": ", ".join(f"{c.role}: {c.cls}" for c in self.components),
            "parameters": sum(c.parameters for c in self.components),
            "devices": ", ".join(sorted({d for c in self.components for d in c.devices})),
            "dtypes": ", ".join(sorted({d for c in self.components for d in c.dtypes})),
        }


def inspect_model(obj: Any, name: str = "predictor") -> ModelFacts:
    import torch

    if not isinstance(obj, torch.nn.Module):
        raise NotAModel(
            f"ocrdoctor.diagnose expects a docTR predictor or a torch.nn.Module, got {type(obj).__name__}"
        )
    parts = model_parts(obj, name)
    components = tuple(_component(role, model, path, pre) for role, model, path, pre in parts)
    if not any(c.parameters or c.devices for c in components):
        raise NotAModel(f"{type(obj).__name__} has no parameters or buffers: nothing to diagnose")
    available = torch.cuda.is_available()
    capability = None
    if available:
        capability = max(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))
    return ModelFacts(type(obj).__name__, components, available, capability, tuple(costly_options(obj, name)),
                      crop_orientation_runs(obj), doctr_release(), native_cpu_bf16(), native_cpu_fp16(),
                      torch_release(), features(obj, [model for _, model, _, _ in parts]))


def native_cpu_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU has native bfloat16 (AMX or AVX512-BF16 flags); None where the flags cannot be read."""
    return native("bfloat16", cpuinfo)


def native_cpu_fp16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU has native float16 arithmetic (AVX512-FP16 or AMX-FP16); None where unknown."""
    return native("float16", cpuinfo)


def model_parts(obj: Any, name: str) -> list[tuple[str, Any, str, Any]]:
    """(role, model, path, pre-processor) for each model inside a predictor, or the module itself."""
    parts = []
    for attr, role in (("det_predictor", "detection"), ("reco_predictor", "recognition")):
        if hasattr(obj, attr):
            predictor = getattr(obj, attr)
            if predictor is None or getattr(predictor, "model", None) is None:
                raise NotAModel(f"half-built predictor: {name}.{attr}.model is missing")
            parts.append((role, predictor.model, f"{name}.{attr}.model", _pre(predictor, f"{name}.{attr}")))
    if parts:
        return parts
    if hasattr(obj, "model") and hasattr(obj, "pre_processor"):  # a DetectionPredictor / RecognitionPredictor
        return [(_role(obj.model), obj.model, f"{name}.model", _pre(obj, name))]
    return [(_role(obj), obj, name, None)]


def _pre(predictor: Any, path: str) -> tuple[Any, str] | None:
    pre = getattr(predictor, "pre_processor", None)
    return (pre, f"{path}.pre_processor") if pre is not None else None


def _role(model: Any) -> str:
    module = type(model).__module__
    return "detection" if ".detection." in module else "recognition" if ".recognition." in module else "model"


def _component(role: str, model: Any, path: str, pre: tuple[Any, str] | None) -> Component:
    import torch

    devices: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    parameters = 0
    for p in model.parameters():
        parameters += 1
        devices[str(p.device)] += 1
        if p.is_floating_point():
            dtypes[str(p.dtype).removeprefix("torch.")] += 1
    for b in model.buffers():
        devices[str(b.device)] += 1
    leaves = live_leaves(model)
    return Component(
        role=role, path=path, cls=type(model).__name__, parameters=parameters,
        devices=dict(devices), dtypes=dict(dtypes),
        training=tuple(n or "(root)" for n, m in model.named_modules() if m.training and _changes_in_training(m,
                                                                                                              torch)),
        fast_unfused=fast_unfused(model),
        preprocessing=_preprocessing(pre[0]) if pre else None,
        expected=_expected(model),
        trained_resize=_trained_resize(model, role) if pre else None,
        preprocessor_path=pre[1] if pre else None,
        arch=_arch(model) if role != "model" else None,
        untrained=evidence(leaves) or recorded_evidence(model) or (fused_evidence(leaves) if _fused_fast(model)
                                                                   else None),
        trained=training(leaves),
        postprocessing=postprocessing(model, path) if role == "detection" else None,
    )


def _arch(model: Any) -> str | None:
    """The docTR architecture the live weights fit, from the same release tables as checkpoints."""
    from ..anatomy.architectures import identify

    match = identify({k: tuple(v.shape) for k, v in model.state_dict(keep_vars=True).items()})
    return match.arch if match is not None and match.identified else None


def _changes_in_training(module: Any, torch: Any) -> bool:
    """Modules whose output differs between train and eval mode; containers do not count."""
    nn = torch.nn
    if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd, nn.AlphaDropout,
                           nn.FeatureAlphaDropout)):
        return True
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return module.track_running_stats
    if isinstance(module, (nn.RNNBase, nn.MultiheadAttention)):
        return getattr(module, "dropout", 0) > 0
    return False


def _fused_fast(model: Any) -> bool:
    """A docTR FAST model in reparameterized form (every multi-branch layer fused)."""
    return type(model).__name__ == "FAST" and ".detection." in type(model).__module__ and not fast_unfused(model) \
        and any(hasattr(m, "fused_conv") for m in model.modules())


def fast_unfused(model: Any) -> int:
    try:
        from doctr.models.detection.fast.pytorch import FASTConvLayer
    except Exception:  # docTR missing or changed: nothing to count
        return 0
    return sum(1 for m in model.modules() if isinstance(m, FASTConvLayer) and not hasattr(m, "fused_conv"))


def _preprocessing(pre: Any) -> Preprocessing | None:
    resize, normalize = getattr(pre, "resize", None), getattr(pre, "normalize", None)
    if resize is None or normalize is None:
        return None
    size = getattr(resize, "size", None)
    size = (size, size) if isinstance(size, int) else tuple(size or ())
    return Preprocessing(size, _floats(normalize.mean), _floats(normalize.std),
                         _flag(resize, "preserve_aspect_ratio"), _flag(resize, "symmetric_pad"))


def _flag(obj: Any, name: str) -> bool | None:
    value = getattr(obj, name, None)
    return value if isinstance(value, bool) else None


def _trained_resize(model: Any, role: str) -> Preprocessing | None:
    """How the model's pages or crops were resized in training: a stored training config's flags (in its cfg),
    else what the installed docTR's predictor factory for its task builds."""
    cfg = getattr(model, "cfg", None)
    if isinstance(cfg, dict) and {"preserve_aspect_ratio", "symmetric_pad"} & set(cfg):
        return Preprocessing((), (), (), _flag_of(cfg, "preserve_aspect_ratio"), _flag_of(cfg, "symmetric_pad"),
                             "the model's training config")
    return factory_resize(role)


def _flag_of(cfg: dict, name: str) -> bool | None:
    return cfg[name] if isinstance(cfg.get(name), bool) else None


@functools.lru_cache(maxsize=2)
def factory_resize(role: str) -> Preprocessing | None:
    """The resize flags docTR's own predictor factory sets for `role` (built once over a small random model)."""
    if role not in ("detection", "recognition"):
        return None
    from doctr import models

    from ..specimens.models import builder_options

    arch, factory = (("db_mobilenet_v3_large", models.detection_predictor) if role == "detection" else
                     ("crnn_mobilenet_v3_small", models.recognition_predictor))
    resize = factory(getattr(models, arch)(**builder_options(arch)), pretrained=False).pre_processor.resize
    name = "detection_predictor" if role == "detection" else "recognition_predictor"
    return Preprocessing((), (), (), _flag(resize, "preserve_aspect_ratio"), _flag(resize, "symmetric_pad"),
                         f"the installed docTR's {name}")


def _expected(model: Any) -> Preprocessing | None:
    cfg = getattr(model, "cfg", None)
    if not isinstance(cfg, dict) or not {"input_shape", "mean", "std"} <= set(cfg):
        return None
    return Preprocessing(tuple(cfg["input_shape"][-2:]), _floats(cfg["mean"]), _floats(cfg["std"]))


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in values)
