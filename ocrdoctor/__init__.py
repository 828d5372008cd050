"""ocrdoctor: find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""

from __future__ import annotations

from importlib import metadata

from .api import check_environment, check_path, check_paths, diagnose
from .findings import Applicability, Finding, Problem, Report, Severity, Skip
from .registry import check
from .tune import optimize

try:
    __version__ = metadata.version("ocrdoctor")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"

__all__ = [
    "Applicability", "Finding", "Problem", "Report", "Severity", "Skip",
    "check", "check_environment", "check_path", "check_paths", "diagnose", "optimize", "__version__",
]
