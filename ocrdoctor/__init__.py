"""ocrdoctor: find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix.

Importing the package imports what every run needs to show a Report (findings, its views, the
formats) and nothing that reads a file or judges one: `ocrdoctor --version` and `--help` load no
reader and no rule. The functions are imported on first use.
"""

from __future__ import annotations

from . import checks as _checks  # noqa: F401  registers where the built-in rules are
from . import render as _render  # noqa: F401  fills the Report's text and HTML views and the formats
from .core.findings import Applicability, Finding, Problem, Report, Severity, Skip
from .core.registry import check

__all__ = [
    "Applicability", "Finding", "Problem", "Report", "Severity", "Skip",
    "check", "check_deployment", "check_environment", "check_path", "check_paths", "compare", "diagnose",
    "optimize", "trained_pair", "trained_predictor", "__version__",
]
_LAZY = {  # imported on first use: a plain `import ocrdoctor` reads nothing and judges nothing
    "check_paths": ("api", "check_paths"),
    "check_path": ("api", "check_path"),
    "check_deployment": ("api", "check_deployment"),
    "check_environment": ("api", "check_environment"),
    "diagnose": ("api", "diagnose"),
    "compare": ("api", "compare"),
    "optimize": ("treat.optimize", "optimize"),  # these need torch and docTR (or the pair's files)
    "trained_predictor": ("treat.build", "trained_predictor"),
    "trained_pair": ("specimens.pair", "trained_pair"),
}


def __getattr__(name: str):
    """The functions and `__version__` on first use."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    if name == "__version__":
        from .core.version import package_version

        return package_version()
    raise AttributeError(f"module 'ocrdoctor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
