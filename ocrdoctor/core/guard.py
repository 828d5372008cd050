"""Nothing ocrdoctor writes replaces what the user has: one guard, checked by every command before any work.

Every file a command writes (its outputs, their sidecars, its temporary files) is held against every
file it reads (the inputs, their sidecars, shard members, goldens, pages): the same file, by any
name (`os.path.samefile`: hard links and symbolic links included), is refused whatever `--force`
says. A report never replaces a file that holds a model (`protect` says what it holds). An
existing file is replaced only with `--force`; an existing folder where a file is written is a
refusal. Refusals are usage errors: one line, exit 2, nothing written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .engine import UsageError


class Refused(UsageError):
    """An output that would replace something the user has."""


def guard(writes: Sequence[Path], reads: Iterable[Path], *, force: bool = False,
          scratch: Iterable[Path] = (), protect: Callable[[Path], str | None] | None = None) -> None:
    """Refuse, before any work, an output that is an input, a folder, a model (for a report, via `protect`), or an
    existing file without `force`, or whose folder is missing or not writable. `scratch` (temporary files) is
    held to the inputs only: it never exists for long."""
    reads = [Path(r) for r in reads]
    for out in (Path(w) for w in (*writes, *scratch)):
        same = next((r for r in reads if same_file(out, r)), None)
        if same is not None:
            alias = "" if out.absolute() == same.absolute() else f" ({out} and {same} are the same file)"
            raise Refused(f"refusing to overwrite the input: {out} is read by this command{alias}; "
                          "choose another output path")
    for out in (Path(w) for w in writes):
        if out.is_dir():
            raise Refused(f"{out} is a folder: give the path of the file to write")
        if out.exists() or out.is_symlink():
            held = protect(out) if protect is not None else None
            if held:
                raise Refused(f"refusing to replace {out} with a report: it holds {held}; choose another path")
            if not force:
                raise Refused(f"{out} exists (pass --force to overwrite it)")
        parent = out.parent
        if not parent.is_dir():
            raise Refused(f"output folder not found: {parent}")
        if not os.access(parent, os.W_OK):
            raise Refused(f"output folder not writable: {parent}")


def same_file(a: Path, b: Path) -> bool:
    """The same file by any name: one inode (hard links, symbolic links), else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        try:
            return a.resolve() == b.resolve()
        except (OSError, RuntimeError):  # a link that loops
            return False
