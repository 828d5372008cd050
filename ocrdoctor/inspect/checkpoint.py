"""Read a checkpoint file once into plain facts. No judgement here: that is the checks' job.

Safety order: the pickle is walked for the globals it names first; only a file whose every
global is on torch's weights-only allowlist is then loaded, and only with
`torch.load(weights_only=True)`. Zip checkpoints are memory-mapped, and a `map_location`
callable records the device each storage was saved from without moving anything.
"""

from __future__ import annotations

import io
import pickle
import struct
import warnings
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from ..architectures import THRESHOLD, ArchMatch, identify
from ..findings import Skip
from ..registry import one_line
from . import pickles

# Where the weights usually sit inside a training checkpoint, most likely first.
WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
_SMALL = 4096  # tensors up to this many elements get their constant value recorded
_MAX_DEPTH = 8


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    device: str  # the device tag it was saved with, e.g. "cpu" or "cuda:0"
    nbytes: int
    storage: int  # identifies the storage, to tell views and shared tensors apart
    storage_nbytes: int
    nonfinite: int = 0  # NaN and Inf values
    constant: float | None = None  # the one value of a small tensor whose elements are all equal

    @property
    def floating(self) -> bool:
        return self.dtype.startswith(("float", "bfloat", "complex"))


@dataclass(frozen=True)
class Entry:
    """Something stored next to the weights: `optimizer`, `epoch`, ..."""

    key: str
    kind: str
    nbytes: int
    tensors: int


@dataclass(frozen=True)
class CheckpointFacts:
    path: str
    size: int
    format: str  # zip | legacy | pickle | safetensors | torchscript | unknown
    problem: str | None = None  # why the file could not be read at all
    unsafe_globals: tuple[str, ...] = ()
    module_globals: tuple[str, ...] = ()  # the classes a pickled nn.Module needs imported
    pickled_module: bool = False
    weights_path: tuple | None = None  # keys leading to the state_dict; () when the file is one
    weights: tuple[TensorInfo, ...] | None = None
    entries: tuple[Entry, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()  # every tensor in the file, weights included
    architecture: ArchMatch | None = None
    requested_arch: str | None = None

    def require_weights(self) -> tuple[TensorInfo, ...]:
        """The state_dict's tensors, or Skip with the reason they were not read."""
        if self.problem:
            raise Skip("the file could not be read")
        if self.unsafe_globals or self.pickled_module:
            raise Skip("not loaded: loading it would run code from the pickle")
        if self.weights is None:
            raise Skip("no state_dict found in the file")
        return self.weights

    @property
    def weights_key(self) -> str | None:
        """The weights' location for messages: "model", "checkpoint.state_dict", or ""."""
        return None if self.weights_path is None else ".".join(map(str, self.weights_path))

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"format": self.format, "bytes": self.size}
        if self.weights is not None:
            out["tensors"] = len(self.weights)
            out["weights_key"] = self.weights_key
        match = self.architecture
        if match is not None and match.score >= THRESHOLD:
            out["architecture"] = match.describe()
        if self.requested_arch:
            out["checked_against"] = self.requested_arch
        return out


def inspect_checkpoint(path: str | Path, arch: str | None = None) -> CheckpointFacts:
    """Facts about one checkpoint; never raises for bad content (that becomes `problem`)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(64)
    except OSError as exc:
        return CheckpointFacts(str(path), 0, "unknown", problem=f"cannot open: {exc.strerror or exc}")
    if size == 0:
        return CheckpointFacts(str(path), 0, "unknown", problem="empty file (0 bytes)")
    base = dict(path=str(path), size=size, requested_arch=arch)
    fmt = sniff(head, size, path.suffix)
    try:
        if fmt == "safetensors":
            return _with_arch(_read_safetensors(path, base), arch)
        scan, fmt = _scan(path, fmt)
    except _Unreadable as exc:
        return CheckpointFacts(format=exc.format or fmt, problem=str(exc), **base)
    except Exception as exc:  # malformed content in any form is a fact, not a crash
        return CheckpointFacts(format=fmt, problem=f"corrupt or truncated: {one_line(exc)}", **base)

    allowed = pickles.torch_allowlist()
    outside = sorted(g for g in scan.globals if g not in allowed)
    unsafe = tuple(g for g in outside if pickles.is_dangerous(g) or not scan.pickled_module)
    module_globals = tuple(g for g in outside if g not in unsafe)
    if unsafe or scan.pickled_module:
        return CheckpointFacts(
            format=fmt, unsafe_globals=unsafe, module_globals=module_globals,
            pickled_module=scan.pickled_module, **base,
        )
    if fmt == "pickle":
        return CheckpointFacts(
            format=fmt, problem="a plain pickle, not a torch.save file: torch.load cannot read it", **base
        )
    try:
        obj, devices = _load(path, mmap=fmt == "zip")
    except Exception as exc:
        return CheckpointFacts(format=fmt, problem=_load_problem(exc), **base)
    try:
        return _with_arch(_facts_from_object(obj, devices, fmt, base), arch)
    except Exception as exc:  # a loadable but bizarre object is still a fact, not a crash
        return CheckpointFacts(format=fmt, problem=f"unexpected contents: {one_line(exc)}", **base)


def sniff(head: bytes, size: int, suffix: str) -> str:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if suffix == ".safetensors" or _looks_like_safetensors(head, size):
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= size - 8 and head[8:10] in (b'{"', b"{ ")


class _Unreadable(Exception):
    def __init__(self, message: str, format: str | None = None):
        super().__init__(message)
        self.format = format


def _scan(path: Path, fmt: str) -> tuple[pickles.PickleScan, str]:
    """Walk the file's pickle(s); returns the scan and the refined format."""
    if fmt == "zip":
        return _scan_zip(path), "zip"
    if fmt == "pickle":
        with path.open("rb") as f:
            first = pickles.scan_pickle(f)
            if first.magic != pickles.LEGACY_MAGIC:
                return first, "pickle"
            # legacy layout: magic, protocol version, sys info, the object, storage keys
            scans = [pickles.scan_pickle(f) for _ in range(4)]
        found = frozenset().union(*(s.globals for s in scans))
        return pickles.PickleScan(found, any(s.pickled_module for s in scans), None), "legacy"
    raise _Unreadable(_describe_unknown(path))


def _scan_zip(path: Path) -> pickles.PickleScan:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if any(n.endswith("/constants.pkl") for n in names):
                raise _Unreadable(
                    "a TorchScript archive (torch.jit.save): load it with torch.jit.load, "
                    "or save model.state_dict() for a checkpoint ocrdoctor can read",
                    format="torchscript",
                )
            data = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
            if len(data) != 1:
                raise _Unreadable("a zip archive without torch's data.pkl: not a torch.save file")
            with archive.open(data[0]) as raw:
                return pickles.scan_pickle(io.BytesIO(raw.read()))
    except zipfile.BadZipFile as exc:
        raise _Unreadable(f"truncated or corrupt zip archive ({exc})") from None


def _describe_unknown(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(256)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c.isspace() for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"a text file, not a checkpoint (starts with {first!r})"
    return f"not a checkpoint: unrecognised content (starts with 0x{head[:8].hex()})"


def _load(path: Path, mmap: bool) -> tuple[Any, dict[int, str]]:
    import torch

    devices: dict[int, str] = {}

    def record(storage, location):  # keep every storage where it is (the CPU), note its tag
        devices[storage.data_ptr()] = location
        return storage

    with warnings.catch_warnings():  # torch's warnings about odd files would reach the user's terminal
        warnings.simplefilter("ignore")
        obj = torch.load(path, weights_only=True, mmap=mmap, map_location=record)
    return obj, devices


def _load_problem(exc: Exception) -> str:
    text = one_line(exc)
    if "central directory" in text or "zip archive" in text:
        return f"truncated or corrupt zip archive: {text}"
    if "Weights only load failed" in text or "UnpicklingError" in text:
        return f"torch's weights-only loader refused it: {text}"
    return f"corrupt or truncated: {text}"


def _read_safetensors(path: Path, base: dict) -> CheckpointFacts:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            named = [(k, f.get_tensor(k)) for k in f.keys()]
    except Exception as exc:
        raise _Unreadable(f"corrupt safetensors file: {one_line(exc)}", format="safetensors") from None
    tensors = tuple(_tensor_info(name, t, {}) for name, t in named)
    return CheckpointFacts(format="safetensors", weights_path=(), weights=tensors, tensors=tensors, **base)


def _facts_from_object(obj: Any, devices: dict[int, str], fmt: str, base: dict) -> CheckpointFacts:
    import torch

    named = list(_walk(obj, "", 0, torch.Tensor))
    tensors = tuple(_tensor_info(name, t, devices) for name, t in named)
    by_id = {id(t): info for (_, t), info in zip(named, tensors)}
    path = _find_weights(obj, torch.Tensor)
    if path is None:
        return CheckpointFacts(format=fmt, tensors=tensors, **base)
    container = obj
    for key in path:
        container = container[key]
    weights = tuple(
        replace(by_id[id(v)], name=str(k)) for k, v in container.items() if isinstance(v, torch.Tensor)
    )
    return CheckpointFacts(
        format=fmt, weights_path=path, weights=weights, tensors=tensors,
        entries=tuple(_entries(obj, path, tensors, torch.Tensor)), **base,
    )


def _with_arch(facts: CheckpointFacts, arch: str | None) -> CheckpointFacts:
    if facts.weights is None:
        return facts
    shapes = {t.name: t.shape for t in facts.weights}
    return replace(facts, architecture=identify(shapes, arch))


def _walk(obj: Any, prefix: str, depth: int, tensor_type: type) -> Iterator[tuple[str, Any]]:
    """Every tensor in nested dicts, lists and tuples, with its dotted path."""
    if isinstance(obj, tensor_type):
        yield prefix, obj
    elif depth < _MAX_DEPTH and isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{prefix}.{k}" if prefix else str(k), depth + 1, tensor_type)
    elif depth < _MAX_DEPTH and isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{prefix}.{i}" if prefix else str(i), depth + 1, tensor_type)


def _find_weights(obj: Any, tensor_type: type) -> tuple | None:
    """The keys leading to the mapping holding the most tensors: the state_dict."""
    best: tuple[tuple, tuple] | None = None
    stack: list[tuple[Any, tuple]] = [(obj, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            continue
        count = sum(isinstance(v, tensor_type) for v in node.values())
        if count:
            rank = (count, _key_preference(str(path[-1]) if path else ""), -len(path))
            if best is None or rank > best[0]:
                best = (rank, path)
        if len(path) < 3:
            stack += [(v, (*path, k)) for k, v in node.items()]
    return best[1] if best else None


def _key_preference(key: str) -> int:
    if key in WEIGHT_KEYS or key == "":
        return 2
    return 0 if "ema" in key.lower() or "optim" in key.lower() else 1


def _entries(obj: Any, path: tuple, tensors: tuple[TensorInfo, ...], tensor_type: type) -> Iterator[Entry]:
    """What sits next to the weights: top-level siblings, or non-tensors inside a flat state_dict."""
    if not isinstance(obj, dict):
        return
    for raw_key, value in obj.items():
        key = str(raw_key)
        if (path and raw_key == path[0]) or (not path and isinstance(value, tensor_type)):
            continue
        inside = [t for t in tensors if t.name == key or t.name.startswith(f"{key}.")]
        storage_bytes = sum({t.storage: t.storage_nbytes for t in inside}.values())
        yield Entry(key, type(value).__name__, storage_bytes + _plain_bytes(value, tensor_type), len(inside))


def _plain_bytes(value: Any, tensor_type: type, depth: int = 0) -> int:
    """Approximate pickled size of the non-tensor parts of a value."""
    if isinstance(value, tensor_type):
        return 0
    if depth < _MAX_DEPTH and isinstance(value, dict):
        return sum(_plain_bytes(k, tensor_type, depth + 1) + _plain_bytes(v, tensor_type, depth + 1) for k, v in value.items())
    if depth < _MAX_DEPTH and isinstance(value, (list, tuple)):
        return sum(_plain_bytes(v, tensor_type, depth + 1) for v in value)
    try:
        return len(pickle.dumps(value, protocol=2))
    except Exception:
        return 0


def _tensor_info(name: str, t: Any, devices: dict[int, str]) -> TensorInfo:
    import torch

    storage = t.untyped_storage()
    ptr = storage.data_ptr()
    nonfinite, constant = 0, None
    try:
        if t.is_floating_point() or t.is_complex():
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                nonfinite = int(t.numel() - finite.sum())
        if 0 < t.numel() <= _SMALL and not t.is_complex():
            low, high = t.min(), t.max()
            if bool(low == high):
                constant = float(low)
    except Exception:  # exotic tensors (quantized, sparse): shapes and bytes still count
        pass
    return TensorInfo(
        name=name,
        shape=tuple(t.shape),
        dtype=str(t.dtype).removeprefix("torch."),
        device=devices.get(ptr, "cpu") if ptr else "cpu",
        nbytes=t.numel() * t.element_size(),
        storage=ptr or id(storage),
        storage_nbytes=storage.nbytes(),
        nonfinite=nonfinite,
        constant=constant,
    )
