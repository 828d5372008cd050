"""The optional extras a command needs (torch and docTR, onnxruntime, OnnxTR): a missing one is one line naming
the install command, never an ImportError's traceback. It lives in core so every layer, the CLI's error
handler included, knows it without importing what needs the extra."""

from __future__ import annotations

import importlib.util

DOCTR_EXTRA = 'pip install "ocrdoctor[doctr]"'


class MissingExtra(Exception):
    """An extra the command needs is not installed; the message names what to install."""


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """Those of `modules` that cannot be imported here (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require_doctr(what: str, modules: tuple[str, ...] = ("torch", "doctr")) -> None:
    """Raise MissingExtra, naming the install command, unless `modules` (torch and docTR) are installed."""
    missing = missing_modules(modules)
    if missing:
        names = " and ".join("docTR" if m == "doctr" else m for m in missing)
        raise MissingExtra(f"{what} needs {names}: {DOCTR_EXTRA}")


class Note(UserWarning):
    """Something ocrdoctor chose for the user that they should know (the vocab it built a recognizer with):
    a warning in Python, one `note:` line on stderr from the command line."""
