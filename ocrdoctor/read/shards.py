"""Sharded checkpoints: the shards a Hugging Face index names, read as one checkpoint.

`save_pretrained` and `accelerate` split large state_dicts into `pytorch_model-00001-of-00003.bin`
(or `model-00001-of-00003.safetensors`) and write `pytorch_model.bin.index.json` (or
`model.safetensors.index.json`) whose `weight_map` names the shard of every tensor. Checked
shard by shard, each is a fraction of a model (OD112 on every one); joined through the index,
the rules see the model. Each shard is read by the one reader, its safety judged on its own
pickles, and each tensor's bytes found in its own shard's mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .file import Checkpoint, read_file, read_remote
from .formats import Layout, StorageData
from .limits import DEFAULT, Limits
from .network import TIMEOUT, open_remote
from .records import Tensor
from .remote import Url
from .stubs import Uses

INDEX_SUFFIXES = (".bin.index.json", ".safetensors.index.json", ".pt.index.json", ".pth.index.json")
SHARD = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<total>\d{5})(?P<suffix>\.[A-Za-z]+)$")
MAX_INDEX_BYTES = 64 << 20  # a 100,000-tensor index is about 10 MiB


class IndexError_(ValueError):
    """The index cannot be used; one line."""


def is_index(path: str | Path) -> bool:
    return str(path).lower().endswith(INDEX_SUFFIXES)


def shard_position(path: str | Path) -> tuple[int, int] | None:
    """(i, n) for a file named like the i-th of n shards, else None."""
    found = SHARD.match(Path(path).name)
    if found is None:
        return None
    i, n = int(found["index"]), int(found["total"])
    return (i, n) if 1 <= i <= n else None


def shard_names(index, timeout: float | None = None) -> list[str]:
    """The shard file names the index's weight_map names, in order; IndexError_ when it cannot be used. A remote
    index (read.remote.Url) is read in one request; a failed request raises RemoteError."""
    try:
        data = json.loads(_index_bytes(index, timeout).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexError_(f"not a readable shard index: {exc}") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise IndexError_("not a shard index: no weight_map")
    names = []
    for shard in weight_map.values():
        if not isinstance(shard, str) or Path(shard).name != shard or shard in (".", "..") or is_index(shard):
            raise IndexError_(f"the index names {str(shard)[:80]!r}: shards must be files beside the index")
        names.append(shard)
    return list(dict.fromkeys(sorted(names)))


def _index_bytes(index, timeout: float | None) -> bytes:
    """The index file's bytes, at most MAX_INDEX_BYTES of them."""
    if isinstance(index, Url):
        source = open_remote(index, TIMEOUT if timeout is None else timeout, read_ahead=0)
        if source.size > MAX_INDEX_BYTES:
            raise IndexError_(f"the index is larger than {MAX_INDEX_BYTES >> 20} MiB")
        return source[:source.size]
    if Path(index).stat().st_size > MAX_INDEX_BYTES:
        raise IndexError_(f"the index is larger than {MAX_INDEX_BYTES >> 20} MiB")
    return Path(index).read_bytes()


def sibling(index, name: str):
    """The file `name` beside the index: a path in its folder, or a URL under the same prefix (its query, a
    signature of the index alone, left off)."""
    if not isinstance(index, Url):
        return Path(index).parent / name
    parts = urlsplit(index.url)
    folder = parts.path.rsplit("/", 1)[0]
    return Url(urlunsplit((parts.scheme, parts.netloc, f"{folder}/{name}", "", "")))


class _Joined(StorageData):
    """Storage keys `<shard number>/<key>`, found in that shard's own mapping."""

    def __init__(self, shards: list[Checkpoint]) -> None:
        self.shards = shards

    def _split(self, key: str) -> tuple[Checkpoint, str] | None:
        number, _, inner = key.partition("/")
        return (self.shards[int(number)], inner) if number.isdigit() and int(number) < len(self.shards) else None

    def has(self, key: str) -> bool:
        found = self._split(key)
        return found is not None and found[0].layout.data.has(found[1])

    def where(self, key: str) -> tuple[Any, int, int] | None:
        found = self._split(key)
        if found is None:
            return None
        shard, inner = found
        place = shard.layout.data.where(inner)
        if place is None:
            return None
        buffer, base, length = place
        return (shard.buffer if buffer is None else buffer, base, length)


class ShardedCheckpoint(Checkpoint):
    """The shards joined: `root` maps every tensor's name to its record; `shards` keep their own reads."""

    def __init__(self, path: str, shards: list[Checkpoint], layout: Layout, values: bool = True) -> None:
        super().__init__(path, sum(s.size for s in shards), layout, Uses(shards[0].uses.limits if shards else DEFAULT),
                         None, shards[0].head if shards else b"", values)
        self.shards = shards

    @property
    def remote(self) -> bool:
        return any(s.remote for s in self.shards)

    def _inner(self, tensor: Tensor) -> tuple[Checkpoint, Tensor] | None:
        """The shard holding the tensor's storage, and the tensor as that shard names it."""
        if tensor.storage is None:
            return None
        number, _, key = tensor.storage.key.partition("/")
        if not number.isdigit() or int(number) >= len(self.shards):
            return None
        return self.shards[int(number)], _renamed(tensor, key=key)

    def locate(self, tensor: Tensor):
        found = self._inner(tensor)
        return None if found is None else found[0].locate(found[1])

    def statistics(self, tensors: Sequence[Tensor]) -> list:
        """Each shard's tensors through that shard's own reading (a remote shard fetches only its storages)."""
        out: list = [None] * len(tensors)
        if not self.values:
            return out
        groups: dict[int, list[tuple[int, Tensor]]] = {}
        for i, t in enumerate(tensors):
            found = self._inner(t)
            if found is not None:
                groups.setdefault(self.shards.index(found[0]), []).append((i, found[1]))
        for number, items in groups.items():
            for (i, _), stats in zip(items, self.shards[number].statistics([t for _, t in items]), strict=True):
                out[i] = stats
        return out

    def raise_failure(self) -> None:
        for shard in self.shards:
            shard.raise_failure()

    def transfer_facts(self) -> dict:
        """What reading the remote shards cost, together."""
        parts = [s.transfer_facts() for s in self.shards if s.remote]
        return {k: sum(p.get(k, 0) for p in parts) for k in ("bytes_read", "requests")} if parts else {}

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


def read_sharded(index, limits: Limits = DEFAULT, values: bool = True, timeout: float | None = None) -> Checkpoint:
    """The index's shards, each read once, joined; a problem (never an exception) when they cannot be. A remote
    index's shards are read in ranges beside it (a failed request raises RemoteError)."""
    index = index if isinstance(index, Url) else Path(index)
    try:
        names = shard_names(index, timeout)
    except IndexError_ as exc:
        return Checkpoint(str(index), _size(index), Layout("unknown", problem=str(exc)), Uses(limits))
    shards: list[Checkpoint] = []
    try:
        for name in names:
            source = sibling(index, name)
            shards.append(read_remote(source, limits, values, timeout) if isinstance(source, Url)
                          else read_file(str(source), limits, values))
    except BaseException:
        for shard in shards:
            shard.close()
        raise
    return ShardedCheckpoint(str(index), shards, _joined_layout(names, shards), values)


def _joined_layout(names: list[str], shards: list[Checkpoint]) -> Layout:
    formats = sorted({s.format for s in shards})
    layout = Layout(formats[0] if len(formats) == 1 else "mixed", data=_Joined(shards),
                    metadata=shards[0].layout.metadata)
    for name, shard in zip(names, shards, strict=False):
        if shard.hostile:
            layout.hostile = f"shard {name}: {shard.hostile}"
            return layout
        if shard.layout.conflict and not layout.conflict:
            layout.conflict = f"shard {name}: {shard.layout.conflict}"
        if shard.problem:
            layout.problem = f"shard {name}: {shard.problem}"
            return layout
        if not isinstance(shard.root, dict):
            layout.problem = f"shard {name} holds a {type(shard.root).__name__}, not a state_dict"
            return layout
    root: dict[str, Tensor] = {}
    for number, (name, shard) in enumerate(zip(names, shards, strict=False)):
        for key, value in shard.root.items():
            if key in root:
                layout.problem = f"tensor {key} is in two shards (the second: {name})"
                return layout
            root[key] = _renamed(value, number) if isinstance(value, Tensor) else value
    layout.root = root
    return layout


def _renamed(tensor: Tensor, number: int | None = None, key: str | None = None) -> Tensor:
    """The same record, its storage key prefixed with its shard's number (keys repeat across shards), or given
    back the `key` its shard knows it by."""
    if tensor.storage is None:
        return tensor
    key = f"{number}/{tensor.storage.key}" if key is None else key
    copy = Tensor(tensor.storage._replace(key=key), tensor.offset, tensor.shape,
                  tensor.stride, tensor.dtype, tensor.kind, tensor.parameter, tensor.quantization)
    copy.qparams = tensor.qparams
    return copy


def _size(path) -> int:
    if isinstance(path, Url):
        return path.size or 0
    try:
        return path.stat().st_size
    except OSError:
        return 0
