"""ocrdoctor: find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""

from __future__ import annotations

from .api import check_environment, check_path, check_paths, diagnose
from .core.findings import Applicability, Finding, Problem, Report, Severity, Skip
from .core.registry import check
from . import render as _render  # noqa: F401  fills the Report's text and HTML views

__all__ = [
    "Applicability", "Finding", "Problem", "Report", "Severity", "Skip",
    "check", "check_environment", "check_path", "check_paths", "diagnose", "optimize", "__version__",
]


def __getattr__(name: str):
    """`optimize` and `__version__` on first use: a plain checkpoint check needs neither."""
    if name == "optimize":
        from .treat.optimize import optimize

        return optimize
    if name == "__version__":
        from .core.version import package_version

        return package_version()
    raise AttributeError(f"module 'ocrdoctor' has no attribute {name!r}")
