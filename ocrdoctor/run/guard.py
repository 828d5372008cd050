"""The output guard (core/guard.py) for reports: what a run reads, and what counts as a model that a report must
never replace."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..core.guard import guard


def holds_model(path: Path) -> str | None:
    """'a checkpoint' or 'an ONNX export' when the file's first bytes say so: a report never replaces one."""
    from ..read.sniff import sniff

    try:
        kind = sniff(path)
    except OSError:
        return None
    if kind is None:
        return None
    return "an ONNX export" if kind == "onnx" else "a checkpoint"


def report_output(output: Path | None, checkpoints: Iterable, others: Iterable = (), *, force: bool) -> None:
    """A report file (`check -o`, `compare -o`): never a file the run reads (the checkpoints with their sidecars and
    shards, and `others`: pages, goldens, the config), never over a model, over another file only with --force."""
    from ..inspect.config import files_read_by

    if output is not None:
        guard([output], [*files_read_by(checkpoints), *others], force=force, protect=holds_model)
