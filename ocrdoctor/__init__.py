"""ocrdoctor: find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""

from __future__ import annotations

from .api import check_environment, check_path, check_paths, diagnose
from .core.findings import Applicability, Finding, Problem, Report, Severity, Skip
from .core.registry import check
from . import render as _render  # noqa: F401  fills the Report's text and HTML views

__all__ = [
    "Applicability", "Finding", "Problem", "Report", "Severity", "Skip",
    "check", "check_environment", "check_path", "check_paths", "compare", "diagnose", "optimize", "trained_pair",
    "trained_predictor", "__version__",
]
_LAZY = {  # need torch and docTR (or the pair's files): imported on first use, a plain check needs none
    "optimize": ("treat.optimize", "optimize"),
    "compare": ("treat.compare", "compare"),
    "trained_predictor": ("treat.build", "trained_predictor"),
    "trained_pair": ("specimens.pair", "trained_pair"),
}


def __getattr__(name: str):
    """The heavier functions and `__version__` on first use: a plain checkpoint check needs none of them."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    if name == "__version__":
        from .core.version import package_version

        return package_version()
    raise AttributeError(f"module 'ocrdoctor' has no attribute {name!r}")
