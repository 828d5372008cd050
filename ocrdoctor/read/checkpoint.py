"""The reader's front door: a path, a shard index or a URL, read once as one checkpoint."""

from __future__ import annotations

from .file import Checkpoint, read_file, read_remote
from .limits import DEFAULT, Limits
from .remote import Url
from .shards import is_index, read_sharded


def read_checkpoint(path, limits: Limits = DEFAULT, values: bool = True, timeout: float | None = None) -> Checkpoint:
    """The file read once; a shard index (`*.bin.index.json`, `*.safetensors.index.json`) reads its shards
    joined as one checkpoint (read/shards.py), here or beside a remote index; a remote file (read.remote.Url)
    is read in ranges, and raises RemoteError when it cannot be. `values=False`: no storage is read (the value
    rules skip)."""
    if is_index(path):
        return read_sharded(path, limits, values, timeout)
    if isinstance(path, Url):
        return read_remote(path, limits, values, timeout)
    path = str(path)
    return read_file(path, limits, values)
