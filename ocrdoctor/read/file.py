"""One file read once, memory-mapped (or in ranges, remotely), the way torch.load would read it, without torch.

`read_file(path)` never raises for what a file holds: a file that cannot be read gets a
`problem`, and the globals its pickles named before the failure are kept, so an attack hidden
in front of a parse error is still seen. `read/checkpoint.py` is the front door (shard indexes,
URLs); this module reads one file.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import mmap
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..core.registry import one_line
from ..core.units import human_bytes
from .archive import LOCAL_MAGIC, ArchiveError
from .describe import denied, describe_content
from .fields import FormatError
from .formats import Layout, read_pickles, read_zip
from .limits import DEFAULT, Hostile, Limits
from .records import ITEMSIZE, Tensor
from .remote import is_ranged
from .safetensors import read_safetensors
from .stream import Opener, buffered, file_opener
from .stubs import Uses
from .values import Located, Stats, array, statistics

_HEAD = 512
REMOTE_BATCH = 64 << 20  # storage bytes a remote file holds in memory at once while its values are read


class Checkpoint:
    """What one file holds: its layout, the unpickled object (records and stubs), its globals."""

    def __init__(self, path: str, size: int, layout: Layout, uses: Uses, buf=None, head: bytes = b"",
                 values: bool = True):
        self.path, self.size, self.layout, self.uses, self.head = path, size, layout, uses, head
        self._buf = buf
        self.values = values  # False (`--values none`): no storage is read, the value rules are skipped

    @property
    def transfer(self):
        """What reading a remote file cost (read.remote.Transfer); None for a local one."""
        return getattr(self._buf, "transfer", None)

    @property
    def remote(self) -> bool:
        return is_ranged(self._buf)

    @property
    def format(self) -> str:
        return self.layout.format

    @property
    def root(self) -> Any:
        return self.layout.root

    @property
    def problem(self) -> str | None:
        return self.layout.problem

    @property
    def hostile(self) -> str | None:
        """Which limit the file passed (OD125); the read stopped there."""
        return self.layout.hostile

    @property
    def buffer(self):
        """The memory-mapped file (None once closed)."""
        return self._buf

    def locate(self, tensor: Tensor) -> Located | None:
        """Where the tensor's values are (None when the file holds no bytes for its storage)."""
        s = tensor.storage
        if s is None:
            return None
        found = self.layout.data.where(s.key)
        if found is None:
            return None
        buffer, base, length = found
        if buffer is None:
            if self._buf is None:
                return None
            buffer = self._buf
            if self.remote:  # numpy needs the bytes themselves: this storage's, fetched once
                buffer, base = self._buf[base:base + length], 0
        skip = tensor.offset * ITEMSIZE.get(tensor.dtype, 1)
        return Located(buffer, base + skip, min(length, s.nbytes) - skip, tensor)

    def array(self, tensor: Tensor):
        """The tensor's values as a numpy array viewing the file (None without numeric data)."""
        where = self.locate(tensor)
        return None if where is None else array(where, self.layout.byteorder)

    def statistics(self, tensors: Sequence[Tensor]) -> list[Stats | None]:
        """Values statistics of each tensor (NaN/Inf count, min, max, mean, std), read from the file; none
        without values (`--values none`). A remote file fetches these tensors' storages, and only these, first."""
        if not self.values:
            return [None] * len(tensors)
        if self.remote:
            return self._remote_statistics(tensors)
        return statistics(tensors, self.layout.data.where, self._buf, self.layout.byteorder, self.uses.limits)

    def _remote_statistics(self, tensors: Sequence[Tensor]) -> list[Stats | None]:
        """Statistics of a remote file's tensors, storage batch by storage batch: each batch's storages (at most
        REMOTE_BATCH bytes, or one larger storage) fetched in coalesced requests, read, then let go, so memory
        stays bounded whatever the file claims. A storage's tensors are always in one batch."""
        data, buf = self.layout.data, self._buf
        need: dict[str, int] = {}
        for t in tensors:
            if t.storage is not None and data.has(t.storage.key):
                need[t.storage.key] = max(need.get(t.storage.key, 0), t.storage.nbytes)
        out: list[Stats | None] = [None] * len(tensors)
        for keys in _batches(need, REMOTE_BATCH):
            if hasattr(data, "prepare"):
                data.prepare(keys, need)  # zip: the local headers, fetched with the bytes behind them
            found = {k: data.where(k) for k in keys}
            buf.prefetch((base, base + min(length, need[k])) for k, (held, base, length)
                         in ((k, f) for k, f in found.items() if f is not None) if held is None)

            def resolve(key: str, found=found):  # called within this batch: binds its storages
                at = found.get(key)
                if at is None or at[0] is not None:
                    return at
                _, base, length = at
                length = min(length, need[key])
                return buf[base:base + length], 0, length

            chosen = [i for i, t in enumerate(tensors) if t.storage is not None and t.storage.key in found]
            for i, stats in zip(chosen, statistics([tensors[i] for i in chosen], resolve, buf,
                                                   self.layout.byteorder, self.uses.limits), strict=False):
                out[i] = stats
            buf.forget()
        return out

    def raise_failure(self) -> None:
        """Raise the RemoteError of a read the network failed while the rules read the file (a remote file)."""
        if self.remote:
            self._buf.raise_failure()

    def transfer_facts(self) -> dict:
        """What reading a remote file cost (bytes_read, requests); nothing for a local one."""
        return self.transfer.facts() if self.transfer is not None else {}

    def has_data(self, tensor: Tensor) -> bool:
        return tensor.storage is not None and self.layout.data.has(tensor.storage.key)

    def close(self) -> None:
        buf, self._buf = self._buf, None
        if isinstance(buf, mmap.mmap):
            try:
                buf.close()
            except BufferError:  # arrays still view it; the mapping goes with them
                pass

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_file(path: str, limits: Limits = DEFAULT, values: bool = True) -> Checkpoint:
    """A local file, memory-mapped. `values=False`: no storage is read (the value rules skip)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return _failed(path, 0, f"cannot open: {exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        return _failed(path, 0, "not a regular file")
    if info.st_size == 0:
        return _failed(path, 0, "empty file (0 bytes)")
    try:
        with open(path, "rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        reason = denied(path) if exc.errno in (errno.EACCES, errno.EPERM) else (exc.strerror or str(exc))
        return _failed(path, info.st_size, f"cannot open: {reason} (the file is {human_bytes(info.st_size)})")
    uses = Uses(limits)
    head = bytes(buf[:_HEAD])
    with gc_paused():
        layout = _layout(buf, uses, head, file_opener(path))
    return Checkpoint(path, info.st_size, layout, uses, buf, head, values)


def read_remote(target, limits: Limits = DEFAULT, values: bool = False, timeout: float | None = None) -> Checkpoint:
    """A remote file read in ranges by the same reader (read/remote.py): its head, its tail, what they point
    at. A failed request is never a finding: RemoteError is raised, even where the reader would have
    taken the missing bytes for a damaged file."""
    from .network import TIMEOUT, open_remote

    buf = open_remote(target, TIMEOUT if timeout is None else timeout)
    if buf.size == 0:
        return Checkpoint(str(target), 0, Layout("unknown", problem="empty file (0 bytes)"), Uses(), buf, b"", values)
    uses = Uses(limits)
    head = buf[:_HEAD]
    with gc_paused():
        layout = _layout(buf, uses, head, lambda: buffered(buf))
    buf.raise_failure()
    return Checkpoint(str(target), buf.size, layout, uses, buf, head, values)


def _batches(sizes: dict[str, int], limit: int) -> Iterator[list[str]]:
    """Keys in order, cut into batches whose sizes add up to at most `limit` (a larger one alone)."""
    batch, total = [], 0
    for key, size in sizes.items():
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(key)
        total += size
    if batch:
        yield batch


_gc_lock = threading.Lock()
_gc_holders = 0


@contextlib.contextmanager
def gc_paused():
    """No garbage collection while a pickle builds its records: the cyclic collector would otherwise
    rescan every record at each generation (3x slower on a 100,000-tensor file). Thread-safe."""
    global _gc_holders
    with _gc_lock:
        if _gc_holders == 0:
            gc_paused.was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and gc_paused.was_enabled:
                gc.enable()


def _failed(path: str, size: int, problem: str) -> Checkpoint:
    return Checkpoint(path, size, Layout("unknown", problem=problem), Uses())


def _layout(buf, uses: Uses, head: bytes, opener: Opener | None = None) -> Layout:
    """Read as torch.load does: a zip by its first bytes, else a tar, else pickles."""
    if head.startswith(LOCAL_MAGIC):
        return _guarded("zip", lambda: read_zip(buf, uses))
    from .tar import open_tar, read_tar  # here: tarfile costs a zip checkpoint's check 4 ms

    tar = open_tar(buf, opener)
    if tar is not None:
        return _guarded("tar", lambda: read_tar(buf, tar, uses))
    try:
        return read_pickles(buf, uses, opener)
    except Exception as exc:  # the first pickle failed: no pickle at all, or a damaged one
        error = exc
    if uses.globals:  # it named globals before failing: keep them, they are what a loader would run
        return _hostile("pickle", error) if isinstance(error, (MemoryError, Hostile)) else \
            Layout("pickle", problem=f"corrupt or truncated: {one_line(error)}")
    try:  # a safetensors file's length prefix often reads as a huge pickle length: its header decides
        safetensors = read_safetensors(buf, uses.limits)
    except FormatError as exc:
        return Layout("safetensors", problem=f"corrupt safetensors file: {exc}")
    except Hostile as exc:
        return _hostile("safetensors", exc)
    if safetensors is not None:
        return safetensors
    if isinstance(error, (MemoryError, Hostile)):
        return _hostile("pickle", error)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # PROTO 2-5: a damaged binary pickle
        return Layout("pickle", problem=f"corrupt or truncated: {one_line(error)}")
    return Layout("unknown", problem=describe_content(head, len(buf)))


OUT_OF_MEMORY = ("the pickle asks for more memory than a checkpoint could need (a hostile memo index or length): "
                 "it was not read further")


def _hostile(fmt: str, error: BaseException) -> Layout:
    return Layout(fmt, hostile=OUT_OF_MEMORY if isinstance(error, MemoryError) else str(error))


def _guarded(fmt: str, read) -> Layout:
    try:
        return read()
    except (MemoryError, Hostile) as exc:
        return _hostile(fmt, exc)
    except (ArchiveError, FormatError) as exc:
        return Layout(fmt, problem=str(exc))
    except Exception as exc:  # what the unpickler raises on a damaged pickle
        return Layout(fmt, problem=f"corrupt or truncated: {one_line(exc)}")


def walk(obj: Any, prefix: str = "", limit: int = 64) -> Iterator[tuple[str, Any]]:
    """Every tensor record reachable from `obj`, with its dotted path (dicts, lists, tuples, stub state)."""
    from .stubs import StubObject

    stack: list[tuple[Any, str, int]] = [(obj, prefix, 0)]
    seen: set[int] = set()
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, Tensor):
            yield path, node
            continue
        if depth >= limit or id(node) in seen:
            continue
        if isinstance(node, (dict, list, tuple)):
            seen.add(id(node))
        children = list(_children(node, StubObject))
        for key, child in reversed(children):
            stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))


def _children(node: Any, stub_type: type) -> Iterator[tuple[Any, Any]]:
    if isinstance(node, dict):
        yield from node.items()
    if isinstance(node, (list, tuple)):
        yield from enumerate(node)
    if isinstance(node, stub_type):
        state = node.__dict__.get("state")
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]} if isinstance(state[0], dict) else state[1]
        if isinstance(state, dict):
            yield from state.items()
        elif isinstance(state, (list, tuple)):
            yield from enumerate(state)
        yield from enumerate(node.__dict__.get("appended") or ())
