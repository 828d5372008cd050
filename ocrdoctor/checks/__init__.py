"""The built-in rules, one module per idea, imported by target kind: a run imports the rules of the kinds it
checks (a checkpoint check never pays for the environment's or a live model's inspectors)."""

from __future__ import annotations

import importlib

from ..core.registry import register_builtin

# The built-in rule modules of each target kind (a module may serve several: OD212 reads OnnxTR predictors too).
BUILTIN = {
    "checkpoint": ("checkpoint", "safety", "weights", "training", "architecture"),
    "model": ("precision", "model", "training_live", "pipeline", "judged"),
    "environment": ("environment", "resources"),
    "onnx": ("onnx",),
    "comparison": ("comparison",),
    "onnxtr": ("onnxtr", "model", "judged"),
}


def load_kind(kind: str) -> None:
    """Import the built-in rule modules of `kind` (each registers its rules on import)."""
    for module in BUILTIN.get(kind, ()):
        importlib.import_module(f"{__name__}.{module}")


register_builtin(load_kind)
