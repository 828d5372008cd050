"""Which files a check reads: the paths given, folders searched, each file once, each skip with its reason."""

from __future__ import annotations

import errno
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..core.engine import UsageError
from .network import listed, require_remote
from .remote import Url, is_url, redact
from .shards import IndexError_, is_index, shard_names
from .sniff import sniff


@dataclass(frozen=True)
class SkippedPath:
    """A path a folder check did not check, and why (a dangling link, not a checkpoint, ...)."""

    path: str
    reason: str


def collect(paths: Iterable[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (),
            timeout: float | None = None) -> tuple[list[Path], list[SkippedPath]]:
    """Files as given; folders searched recursively, sorted, filtered by the globs; each file once.

    In a folder every regular file is sniffed by its first bytes (a checkpoint under any name is
    checked, ONNX exports go by their suffix); links that dangle or loop, links to folders and
    files that are plainly something else are skipped, and each skip is recorded with its reason.
    Globs match a file's path relative to the folder given (or its name); with include globs,
    the matching files are checked whatever they hold. A URL is listed the same way (read/remote.py).
    """
    found: list[Path] = []
    skipped: list[SkippedPath] = []
    used: set[str] = set()
    for raw in paths:
        if is_url(raw):
            require_remote(f"checking {redact(str(raw))}")
            inside, passed = listed(str(raw), include, exclude, used, timeout)
            skipped += [SkippedPath(url, reason) for url, reason in passed]
            if not inside:
                raise UsageError(f"no checkpoints or ONNX exports in {redact(str(raw))}"
                                 + (f" ({len(passed)} files skipped)" if passed else ""))
            found += inside
            continue
        path = Path(raw)
        if path.is_dir():
            here: list[SkippedPath] = []
            inside = _joined(sorted(_folder(path, include, exclude, used, here)))
            skipped += sorted(here, key=lambda s: s.path)
            if not inside:
                what = ", ".join(include) if include else "checkpoints or ONNX exports"
                raise UsageError(f"no {what} in {path}" + (f" ({len(here)} files skipped)" if here else ""))
            found += inside
        elif path.exists():
            found.append(path)
        elif path.is_symlink():
            raise UsageError(f"dangling link: {path} -> {os.readlink(path)}")
        else:
            raise UsageError(f"path not found: {path}")
    unmatched = [g for g in include if g not in used]
    if unmatched:
        raise UsageError(f"include glob '{unmatched[0]}' matched no file")
    return _unique(found), skipped


def _folder(folder: Path, include: Sequence[str], exclude: Sequence[str], used: set[str],
            skipped: list[SkippedPath]) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names + [d for d in dirs if (Path(root) / d).is_symlink()]):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if any(matches(rel, g) for g in exclude):
                continue
            reason = _not_checked(path, rel, include, used)
            if reason:
                skipped.append(SkippedPath(str(path), reason))
            else:
                yield path


def _joined(files: list[Path]) -> list[Path]:
    """A folder's files with the shards a shard index names left out: the index checks them as one model."""
    named: set[Path] = set()
    for index in (f for f in files if is_index(f)):
        try:
            named.update(index.parent / name for name in shard_names(index))
        except IndexError_:
            continue  # checked as it is: its problem is reported on it
    return [f for f in files if f not in named]


def _not_checked(path: Path, rel: str, include: Sequence[str], used: set[str]) -> str | None:
    """Why a file in a folder is not checked; None when it is."""
    if include:
        hits = [g for g in include if matches(rel, g)]
        used.update(hits)
        if not hits:
            return "not matched by --include"
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return f"dangling link to {os.readlink(path)}"
        except (RuntimeError, OSError):
            return "a link that loops"
        if target.is_dir():
            return "a link to a folder (not followed)"
    if not path.is_file():
        return "not a regular file"
    if include:
        return None
    if is_index(path):
        return None
    try:
        return None if sniff(path) else "not a checkpoint (its first bytes say so)"
    except OSError as exc:  # unreadable: checked anyway, so OD100 says why
        return None if exc.errno in (errno.EACCES, errno.EPERM) else f"unreadable: {exc.strerror or exc}"


def matches(rel: str, pattern: str) -> bool:
    """A glob against a path relative to the folder given, or against its name alone."""
    return fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)


def _unique(paths: list[Path]) -> list[Path]:
    seen: set = set()
    unique = []
    for p in paths:
        key = p.url if isinstance(p, Url) else p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique
