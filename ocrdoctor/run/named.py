"""What the user named, as targets: paths, folders, URLs and prefixes, shard indexes; each file once, each
file passed over recorded with its reason.

A folder (local or a remote prefix) is searched recursively and sorted; globs match a file's path
relative to the folder given (or its name). Without include globs every regular file is sniffed
by its first bytes, so a checkpoint under any name is checked, and ONNX exports go by their
suffix; with include globs, the matching files are checked whatever they hold. A shard index
stands for its shards, which are then not checked again on their own.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.engine import UsageError
from ..core.plan import matches
from ..core.units import count
from ..read.describe import denied
from .targets import CheckpointFile, OnnxFile, RemoteCheckpoint, Target


@dataclass(frozen=True)
class SkippedPath:
    """A path a folder check did not check, and why (a dangling link, not a checkpoint, ...)."""

    path: str
    reason: str


def targets_of(paths: Iterable[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (),
               timeout: float | None = None, arch: str | None = None, key: tuple | None = None,
               vocab: str | None = None) -> tuple[list[Target], list[SkippedPath]]:
    """The targets the paths name: ONNX exports by their suffix, every other file a checkpoint."""
    files, skipped = collect(paths, include, exclude, timeout)
    return [target_of(f, arch, key, vocab) for f in files], skipped


def target_of(path, arch: str | None = None, key: tuple | None = None, vocab: str | None = None) -> Target:
    from ..read.remote import is_url

    if str(path).lower().endswith(".onnx") or getattr(path, "suffix", "").lower() == ".onnx":
        return OnnxFile(path)
    return (RemoteCheckpoint if is_url(path) else CheckpointFile)(path, arch, key, vocab=vocab)


def collect(paths: Iterable[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = (),
            timeout: float | None = None) -> tuple[list, list[SkippedPath]]:
    """Files as given; folders searched recursively, sorted, filtered by the globs; each file once."""
    from ..read.remote import is_url, redact

    found: list = []
    skipped: list[SkippedPath] = []
    used: set[str] = set()
    for raw in paths:
        if is_url(raw):
            require_remote(str(raw))
            inside, passed = _listed(str(raw), include, exclude, used, timeout)
            where = redact(str(raw))
        else:
            path = Path(raw)
            if not path.is_dir():
                found.append(_given(path))
                continue
            inside, passed = _searched(path, include, exclude, used)
            where = str(path)
        skipped += passed
        if not inside:
            what = ", ".join(include) if include else "checkpoints or ONNX exports"
            raise UsageError(f"no {what} in {where}" + (f" ({count(len(passed), 'file')} skipped)" if passed else ""))
        found += inside
    unmatched = [g for g in include if g not in used]
    if unmatched:
        raise UsageError(f"include glob '{unmatched[0]}' matched no file")
    return _unique(found), skipped


def _given(path: Path) -> Path:
    """A file named on its own: checked whatever it holds, once it exists."""
    if path.exists():
        return path
    if path.is_symlink():
        kind = _local_kind(path)
        raise UsageError(f"{kind}: {path}" if kind == "a link that loops" else f"dangling link: {path} -> "
                         f"{os.readlink(path)}")
    raise UsageError(f"path not found: {path}")


def _searched(folder: Path, include: Sequence[str], exclude: Sequence[str], used: set[str]
              ) -> tuple[list[Path], list[SkippedPath]]:
    skipped: list[SkippedPath] = []
    inside = []
    if not os.access(folder, os.R_OK | os.X_OK):
        raise UsageError(f"cannot read the folder {folder}: {denied(folder)}")
    unreadable: list[OSError] = []
    for root, dirs, names in os.walk(folder, onerror=unreadable.append):
        dirs.sort()
        for name in sorted(names + [d for d in dirs if (Path(root) / d).is_symlink()]):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if any(matches(rel, g) for g in exclude):
                continue
            reason = not_checked(rel, include, used, _local_kind(path)) or _local_content(path, include)
            if reason:
                skipped.append(SkippedPath(str(path), reason))
            else:
                inside.append(path)
    skipped += [SkippedPath(str(e.filename), f"an unreadable folder: {denied(e.filename)}") for e in unreadable
                if e.filename]
    return _joined(sorted(inside)), sorted(skipped, key=lambda s: s.path)


def _listed(url: str, include: Sequence[str], exclude: Sequence[str], used: set[str], timeout: float | None
            ) -> tuple[list, list[SkippedPath]]:
    """A URL's files, chosen as a local folder's are (read/network.py lists them)."""
    from ..read.network import listing

    itself, files = listing(url, timeout)
    if itself is not None:
        return [itself], []
    inside, skipped = [], []
    for target, rel in files:
        if any(matches(rel, g) for g in exclude):
            continue
        reason = not_checked(rel, include, used, "file")
        if reason is None and not include:
            reason, target = _remote_content(target, timeout)
        if reason:
            skipped.append(SkippedPath(str(target), reason))
        else:
            inside.append(target)
    return _joined(inside, timeout), skipped


def not_checked(rel: str, include: Sequence[str], used: set[str], kind: str) -> str | None:
    """Why a file found in a folder or under a prefix is not checked (None: it is, or its content decides).
    `kind` is what the entry is: a file, or a link that dangles, loops or leads to a folder."""
    if include:
        hits = [g for g in include if matches(rel, g)]
        used.update(hits)
        if not hits:
            return "not matched by --include"
    return None if kind == "file" else kind


def _local_kind(path: Path) -> str:
    """'file', or why a folder entry is no file to check."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return f"dangling link to {os.readlink(path)}"
        except (RuntimeError, OSError):
            return "a link that loops"
        if target.is_dir():
            return "a link to a folder (not followed)"
    return "file" if path.is_file() else "not a regular file"


def _local_content(path: Path, include: Sequence[str]) -> str | None:
    """A local file's first bytes decide, unless include globs chose it or it is a shard index."""
    from ..read.shards import is_index
    from ..read.sniff import sniff

    if include or is_index(path):
        return None
    try:
        return None if sniff(path) else _other_kind(path)
    except OSError as exc:  # unreadable: checked anyway, so OD100 says why
        return None if exc.errno in (errno.EACCES, errno.EPERM) else f"unreadable: {exc.strerror or exc}"


def _other_kind(path: Path) -> str:
    """Why a file found in a folder is no checkpoint: the kind its first bytes name (a PNG image), or that."""
    from ..read.describe import known_type

    with open(path, "rb") as f:
        kind = known_type(f.read(16))
    return f"{kind}, not a checkpoint" if kind else "not a checkpoint (its first bytes say so)"


def _remote_content(target, timeout: float | None):
    """(why a remote file is not checked, or None; the target with the requests its sniff cost)."""
    from ..read.network import head
    from ..read.remote import RemoteError
    from ..read.shards import INDEX_SUFFIXES
    from ..read.sniff import CHECKPOINT_SUFFIXES, is_checkpoint_content

    if target.suffix.lower() in (*CHECKPOINT_SUFFIXES, ".onnx") or target.url.lower().endswith(INDEX_SUFFIXES):
        return None, target
    try:
        first, requests = head(target, timeout)
    except RemoteError as exc:
        return f"unreadable: {exc}", replace(target, requests=1)
    target = replace(target, requests=requests)  # the sniff's request is the target's cost too
    return (None if is_checkpoint_content(first) else "not a checkpoint (its first bytes say so)"), target


def _joined(files: list, timeout: float | None = None) -> list:
    """The files with the shards an index among them names left out: the index checks them as one model, here
    or under a remote prefix alike. An index that cannot be used is checked as it is (its problem is reported)."""
    from ..read.remote import RemoteError, Url
    from ..read.shards import IndexError_, is_index, shard_names, sibling

    def key(f) -> str:
        return f.url if isinstance(f, Url) else str(f)

    named = set()
    for index in (f for f in files if is_index(f)):
        try:
            named.update(key(sibling(index, name)) for name in shard_names(index, timeout))
        except (IndexError_, RemoteError):
            continue
    return [f for f in files if key(f) not in named]


def require_remote(url: str) -> None:
    """A URL's protocol needs fsspec and that protocol's own filesystem (and what it needs): one line saying
    what to install when one of them is missing."""
    from ..read.remote import redact

    protocol = url.partition("://")[0].lower()
    try:
        import fsspec

        fsspec.get_filesystem_class(protocol)
        if protocol in ("http", "https"):
            import aiohttp  # noqa: F401  fsspec's HTTP filesystem imports it only when it opens
    except ImportError as exc:
        missing = getattr(exc, "name", None) or "fsspec"
        raise UsageError(f"checking {redact(url)} needs {missing}, which is not installed: "
                         "pip install 'ocrdoctor[remote]'") from None
    except ValueError:
        raise UsageError(f"checking {redact(url)}: {protocol}:// is not a protocol fsspec knows") from None


def _unique(paths: list) -> list:
    from ..read.remote import Url

    seen: set = set()
    unique = []
    for p in paths:
        key = p.url if isinstance(p, Url) else p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique
