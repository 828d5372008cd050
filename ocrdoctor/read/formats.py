"""The layouts torch.load reads, each walked the way torch walks it, every reachable pickle included.

- zip (torch >= 1.6): the archive's folder is its first member's; the pickle is `<folder>/data.pkl`,
  found as miniz finds it; storages are `<folder>/data/<key>`. TorchScript archives
  (`constants.pkl`) and torch.export programs (`archive_format`) are zips too.
- tar (torch < 0.4): `storages`, `tensors` and `pickle` members, each holding pickles (read/tar.py).
- legacy (torch < 1.6): five pickles in a row (magic number, protocol, system info, the object,
  the storage keys), then each storage's element count and bytes.
- pickle: anything else torch.load would hand to the unpickler; it runs the first pickle.
- safetensors: a JSON header and raw bytes, no pickle at all (read/safetensors.py).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any

from ..core.registry import one_line
from ..core.units import count
from .archive import EXTRA_GUESS, Archive, ArchiveError
from .fields import FormatError, int64_at, nonnegative, short, text_of
from .limits import Hostile
from .records import ITEMSIZE, Storage
from .remote import is_ranged
from .stream import Opener, buffered, member_stream
from .stubs import StorageRef, StorageType, Uses
from .unpickler import read_pickle

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class StorageData:
    """Where each storage's bytes are: `where(key)` -> (buffer or None for the file, offset, length)."""

    def has(self, key: str) -> bool:
        raise NotImplementedError

    def where(self, key: str) -> tuple[Any, int, int] | None:
        raise NotImplementedError


class Spans(StorageData, dict):
    """Storage key -> (offset, length) in the file: legacy, tar and safetensors layouts."""

    def has(self, key: str) -> bool:
        return key in self

    def where(self, key: str) -> tuple[Any, int, int] | None:
        span = self.get(key)
        return None if span is None else (None, *span)


class ZipData(StorageData):
    """`<folder>/data/<key>` members, found as miniz finds them; offsets are read only when asked."""

    def __init__(self, archive: Archive, prefix: str, storages: dict[str, Storage]):
        self.archive, self.storages = archive, storages
        self.folder = f"{prefix}/data/".lower().encode("utf-8")
        self._cache: dict[str, tuple[Any, int, int]] | None = None

    def _members(self, key: str) -> list:
        return self.archive.by_name.get(self.folder + key.encode("utf-8").lower(), [])

    def has(self, key: str) -> bool:
        """From the directory alone: no local header is read."""
        return bool(self._members(key))

    def prepare(self, keys: list[str], need: dict[str, int]) -> None:
        """Locate these storages together: a remote file fetches each local header with the `need[key]` bytes
        behind it, in coalesced requests, then reads the offsets from what it holds."""
        members = {k: self._members(k) for k in keys}
        self.archive.buf.prefetch((m[0].header, m[0].header + 30 + len(m[0].name) + EXTRA_GUESS + need[k])
                                  for k, m in members.items() if m)
        self._cache = {**(self._cache or {}), **self._stored_spans(keys)}

    def where(self, key: str) -> tuple[Any, int, int] | None:
        if self._cache is None:  # a mapped file: every storage located at once, with numpy
            self._cache = self._stored_spans(None if not is_ranged(self.archive.buf) else [key])
        found = self._cache.get(key)
        if found is None:
            members = self._members(key)
            if not members:
                return None
            member, need = members[0], self.storages[key].nbytes
            if member.size < need:
                raise FormatError(f"storage {key} holds {member.size} bytes where the pickle needs {need}: "
                                  "the archive is truncated or corrupt")
            try:
                if member.method == 0:
                    found = (None, *self.archive.span(member))
                else:
                    blob = self.archive.read(member, limit=need)
                    found = (blob, 0, len(blob))
            except ArchiveError as exc:  # found only now, as torch.load would find it: the file is damaged
                raise FormatError(f"storage {key}: {exc}") from None
            self._cache[key] = found
        return found

    def _stored_spans(self, only: list[str] | None = None) -> dict[str, tuple[Any, int, int]]:
        """Every plainly stored, large-enough storage member's span (or those of `only`), from its local header,
        in one pass."""
        keys, members = [], []
        for key in self.storages if only is None else only:
            storage = self.storages.get(key)
            if storage is None:
                continue
            found = self._members(key)
            if found and found[0].method == 0 and found[0].size >= storage.nbytes:
                keys.append(key)
                members.append(found[0])
        starts = self.archive.spans(members)
        return {k: (None, start, m.size) for k, m, start in zip(keys, members, starts, strict=False) if start >= 0}

    def conflicts(self) -> str | None:
        for name, members in self.archive.by_name.items():
            if len(members) > 1 and name.startswith(self.folder) and len({self.archive.raw(m) for m in members}) > 1:
                where = name[len(self.folder):]
                return f"the archive holds {count(len(members), 'different member')} for storage {where!r}"
        return None


@dataclass
class Layout:
    format: str  # zip | torchscript | torch-export | tar | legacy | pickle | safetensors | unknown
    root: Any = None  # the unpickled object (stubs and records), or {name: Tensor} for safetensors
    data: StorageData = field(default_factory=lambda: Spans())  # where each storage's bytes are
    problem: str | None = None  # why the file cannot be read (whole or in part)
    hostile: str | None = None  # the limit the file passed (OD125): the read stopped there
    conflict: str | None = None  # loaders would read different pickles: unsafe whatever they hold
    metadata: dict[str, str] | None = None  # safetensors __metadata__
    byteorder: str = "little"
    pickles: int = 0


# --- zip ---------------------------------------------------------------------------------------

LEGACY_EXPORT = "serialized_exported_program.json"  # the first member of torch.export.save's archive up to torch 2.5

def read_zip(buf, uses: Uses) -> Layout:
    archive = Archive(buf, uses.limits)
    _no_bombs(archive)
    exported = bool(archive.find(LEGACY_EXPORT))  # torch.export.save before torch 2.6: a flat archive, no folder
    if exported and not any(m.name.lower().endswith(b".pkl") for m in archive.members):
        return Layout("torch-export")
    prefix = archive.prefix
    names = [m.c_name for m in archive.members]
    folder = prefix + "/"
    records = {n[len(folder):] for n in names if n.startswith(folder)}
    kind = "torchscript" if "constants.pkl" in records else "torch-export" if "archive_format" in records else "zip"
    candidates = archive.find(f"{prefix}/data.pkl")
    layout = Layout(kind)
    if not candidates and kind == "zip":
        raise FormatError("a zip archive without torch's data.pkl: not a torch.save file")
    storages: dict[str, Storage] = {}
    contents = [_member(archive, m, uses) for m in candidates]
    if len(set(contents)) > 1:
        names = ", ".join(repr(m.text) for m in candidates)
        layout.conflict = (f"the archive holds {count(len(candidates), 'different data.pkl member')} ({names}): "
                           "loaders do not agree on which one they read")
    # Other pickles: a TorchScript loader reads them (constants.pkl); stored ones cost nothing to read and are
    # judged too. A compressed pickle torch.load never reads is never inflated.
    others = [m for m in archive.members if m.name.lower().endswith(b".pkl") and m not in candidates
              and (m.method == 0 or kind != "zip")]
    persistent = _zip_storages(storages, uses)
    for i, data in enumerate(contents + [_member(archive, m, uses) for m in others]):
        layout.pickles += 1
        try:
            value = read_pickle(member_stream(data), uses, persistent)
        except (Hostile, MemoryError):
            raise
        except Exception:
            if i == 0 and kind == "zip":
                raise
            continue  # a pickle torch.load never reads: its globals still count, its errors do not
        if i == 0:
            layout.root = value
    outside = [n for n in names if not n.startswith(folder)]
    if exported and kind == "zip":  # its pickles were read all the same: a member's name is no verdict
        layout.problem = (f"{LEGACY_EXPORT!r} (a torch.export program's member) beside torch.save's {prefix}/data.pkl: "
                          "torch.load refuses the archive, and torch.export.load reads another layout")
    elif outside and kind == "zip":
        layout.problem = (f"{outside[0]!r} lies outside the archive's folder {prefix!r}: "
                          "torch.load refuses the archive")
    layout.data = ZipData(archive, prefix, storages)
    layout.conflict = layout.conflict or layout.data.conflicts()
    order = archive.find(f"{prefix}/byteorder")
    if order:
        layout.byteorder = archive.read(order[0], limit=16).decode("ascii", "replace").strip() or "little"
    return layout


def _member(archive: Archive, member, uses: Uses) -> bytes:
    """A member's bytes, inflated when compressed: its declared size is counted against the limits first."""
    if member.method != 0:
        uses.build(member.size)
    return archive.read(member)


def _no_bombs(archive: Archive) -> None:
    """A compressed member declaring more than the `inflated` limit: built to exhaust whoever inflates it,
    judged from the directory alone (nothing is inflated)."""
    limit = archive.limits.inflated
    for m in archive.members:
        if m.method != 0 and limit is not None and m.size > limit:
            ratio = f", {m.size // max(m.compressed, 1):,} times its compressed size" if m.compressed else ""
            raise Hostile("inflated", m.size, limit, f" ({m.text!r}{ratio})")


def _zip_storages(storages: dict[str, Storage], uses: Uses):
    refs: dict[object, StorageRef] = {}

    def persistent_load(pid):
        try:
            kind, storage_type, key, location, numel = pid
        except (TypeError, ValueError):
            kind = storage_type = None
        if kind != "storage" or storage_type.__class__ is not StorageType:
            raise pickle.UnpicklingError(f"an unsupported persistent id in a torch zip file: {short(pid)}")
        ref = refs.get(key) if key.__class__ is str else None
        if ref is None:
            uses.limits.check("entries", len(refs) + 1)
            if numel.__class__ is not int or numel < 0:
                raise pickle.UnpicklingError("a storage with a negative or missing size")
            text, dtype = str(key), storage_type.dtype
            storage = storages[text] = Storage(text, dtype, str(location), numel, numel * ITEMSIZE.get(dtype, 1))
            ref = refs[text] = StorageRef(storage, 0)
        return ref

    return persistent_load


# --- legacy: five pickles, then the storages ----------------------------------------------------

def read_pickles(buf, uses: Uses, opener: Opener | None = None) -> Layout:
    """The first pickle, as torch.load reads any file that is neither a zip nor a tar; raises if it is no pickle.

    The pickles are read from the file as `open(path, "rb")` gives it (`opener`), as torch reads them."""
    with (opener or (lambda: buffered(buf)))() as stream:
        return _read_pickles(buf, stream, uses)


def _read_pickles(buf, stream, uses: Uses) -> Layout:
    first = read_pickle(stream, uses, None)
    if not (type(first) is int and first == LEGACY_MAGIC):
        return Layout("pickle", root=first, pickles=1,
                      problem="a plain pickle, not a torch.save file: torch.load runs it, then fails (no magic number)")
    layout = Layout("legacy", pickles=5)
    try:
        for _ in range(2):  # protocol version, system info
            read_pickle(stream, uses, None)
        storages: dict[str, Storage] = {}
        layout.root = read_pickle(stream, uses, _legacy_storages(storages, uses))
        keys = read_pickle(stream, uses, None)
        if not isinstance(keys, list):
            raise FormatError("the storage key list of a legacy file is not a list")
        _legacy_data(buf, stream.tell(), [str(k) for k in keys], storages, layout)
    except FormatError as exc:
        layout.problem = str(exc)
    except (MemoryError, Hostile):
        raise
    except Exception as exc:  # what the unpickler raises on a damaged pickle
        layout.problem = f"corrupt or truncated: {one_line(exc)}"
    return layout


def _legacy_storages(storages: dict[str, Storage], uses: Uses):
    def persistent_load(pid):
        if not isinstance(pid, tuple) or not pid:
            raise pickle.UnpicklingError(f"an unsupported persistent id in a legacy file: {short(pid)}")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) > 1:  # torch.save(model) with source: the class itself
            return pid[1]
        if kind != "storage" or len(pid) != 6 or not isinstance(pid[1], StorageType):
            raise pickle.UnpicklingError(f"an unsupported persistent id in a legacy file: {short(pid)}")
        _, storage_type, key, location, numel, view = pid
        key = str(key)
        if key not in storages:
            uses.limits.check("entries", len(storages) + 1)
            storages[key] = Storage.of(key, storage_type.dtype, text_of(location), nonnegative(numel))
        if view is None:
            return StorageRef(storages[key])
        _view_key, offset, size = view
        if nonnegative(offset) + nonnegative(size) > storages[key].numel:
            raise pickle.UnpicklingError(f"a view runs past the end of storage {key}")
        return StorageRef(storages[key], offset)

    return persistent_load


def _legacy_data(buf, pos: int, keys: list[str], storages: dict[str, Storage], layout: Layout) -> None:
    for key in keys:
        storage = storages.get(key)
        if storage is None:
            raise FormatError(f"storage {key} is listed but never used by the pickle")
        numel = int64_at(buf, pos, "storage size")
        if numel != storage.numel:
            raise FormatError(f"storage {key} holds {numel} elements where the pickle declares {storage.numel}")
        if pos + 8 + storage.nbytes > len(buf):
            raise FormatError(f"storage {key} runs past the end of the file: truncated")
        layout.data[key] = (pos + 8, storage.nbytes)
        pos += 8 + storage.nbytes
