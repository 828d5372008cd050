"""OnnxTR deployments: the predictor a service builds from ONNX files, and the program that rebuilds it.

A file exported by `ocrdoctor export` records docTR's config (arch, input size, mean, std, vocab)
in its metadata; OnnxTR's classes start from their own defaults (db_mobilenet_v3_large expects
1024x1024), so the builder here gives each model the file's own config, as a deployment should.
The fixes of OD501-OD506 print that construction as Python (checks/onnxtr.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.extras import MissingExtra, missing_modules
from ..inspect.onnxtr import recorded_config
from .build import BuildError

ONNXTR_EXTRA = 'pip install "ocrdoctor[onnxtr]" (and onnxruntime or onnxruntime-gpu, whichever the deployment uses)'


def require_onnxtr(what: str) -> None:
    missing = missing_modules(("onnxtr", "onnxruntime"))
    if missing:
        raise MissingExtra(f"{what} needs {' and '.join(missing)}: {ONNXTR_EXTRA}")


def onnxtr_model(path: Path, arch: str, device: str = "cpu") -> Any:
    """OnnxTR's `arch` over the file, with the config the file records (input size, mean, std, vocab)."""
    require_onnxtr("an ONNX deployment")
    import onnxruntime as ort
    from onnxtr import models

    build = getattr(models, arch, None)
    if build is None:
        raise BuildError(f"OnnxTR has no architecture '{arch}'")
    options = ort.SessionOptions()  # only the metadata is read: no graph optimization for this session
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta = dict(session.get_modelmeta().custom_metadata_map)
    except Exception as exc:  # onnxruntime's own Fail / InvalidGraph
        raise BuildError(f"{path}: onnxruntime cannot open it ({type(exc).__name__}: {str(exc).splitlines()[0]})") \
            from None
    port = session.get_inputs()[0]
    docTR_ports = port.name == "input" and any(o.name == "logits" for o in session.get_outputs())
    if "arch" not in meta and not docTR_ports:
        producer = session.get_modelmeta().producer_name or "an unknown producer"
        raise BuildError(f"{path} is another framework's graph ({producer}: its input is {port.name!r}), not a docTR "
                         "or OnnxTR export: OnnxTR builds docTR's architectures only")
    if len(port.shape) != 4:  # an image model's (batch, 3, H, W): another package's graph is refused here
        shape = "x".join(str(d) if isinstance(d, int) else "N" for d in port.shape)
        raise BuildError(f"{path}: not an OnnxTR or docTR export: its input {port.name!r} is {shape}, where {arch} "
                         "takes (batch, 3, H, W)")
    engine = None
    if device == "cuda":
        engine = models.EngineConfig(providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    kwargs = {"vocab": meta["vocab"]} if "vocab" in meta else {}
    try:
        model = build(str(path), engine_cfg=engine, **kwargs)
    except Exception as exc:
        raise BuildError(f"{path}: OnnxTR cannot build {arch} from it ({type(exc).__name__}: {exc})") from None
    recorded = recorded_config(meta)
    model.cfg = {**model.cfg, **{k: recorded[k] for k in ("input_shape", "mean", "std") if k in recorded}}
    return model


def onnxtr_predictor(det: Path | None, det_arch: str | None, reco: Path | None, reco_arch: str | None,
                     device: str = "cpu") -> Any:
    """What a service builds: `ocr_predictor(det_model, reco_model)`, or one half's predictor."""
    require_onnxtr("an ONNX deployment")
    det_model = onnxtr_model(det, det_arch, device) if det is not None else None
    reco_model = onnxtr_model(reco, reco_arch, device) if reco is not None else None
    return predictor_over(det_model, reco_model)


def predictor_over(det_model: Any, reco_model: Any) -> Any:
    """OnnxTR's predictor over the models a service built (either may be None: one half's predictor)."""
    from onnxtr.models import detection_predictor, ocr_predictor, recognition_predictor

    if det_model is not None and reco_model is not None:
        return ocr_predictor(det_model, reco_model)
    return detection_predictor(det_model) if det_model is not None else recognition_predictor(reco_model)
