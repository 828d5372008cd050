"""ocrdoctor: find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""

from __future__ import annotations

from .api import check_environment, check_path, check_paths, diagnose
from .findings import Applicability, Finding, Problem, Report, Severity, Skip
from .registry import check

__all__ = [
    "Applicability", "Finding", "Problem", "Report", "Severity", "Skip",
    "check", "check_environment", "check_path", "check_paths", "diagnose", "optimize", "__version__",
]


def __getattr__(name: str):
    """`optimize` and `__version__` on first use: a plain checkpoint check needs neither."""
    if name == "optimize":
        from .tune import optimize

        return optimize
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("ocrdoctor")
        except metadata.PackageNotFoundError:  # running from a source tree
            return "0.0.0+source"
    raise AttributeError(f"module 'ocrdoctor' has no attribute {name!r}")
