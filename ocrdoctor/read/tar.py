"""The pre-0.4 tar layout, read as torch/serialization.py `legacy_load` reads it.

`storages` and `tensors` are extracted and opened unbuffered; `pickle` is read through
`tar.extractfile`, which follows a symbolic or hard link to the member it names. Member headers
are counted against the `entries` limit as they are read.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from typing import Any

from .fields import FormatError, bounded, int64_at, key_of, nonnegative, short, text_of, triple
from .formats import Layout
from .records import Storage, Tensor
from .stream import Opener, buffered, member_stream
from .stubs import StorageRef, StorageType, Uses
from .unpickler import read_pickle


def open_tar(buf, opener: Opener | None = None) -> tarfile.TarFile | None:
    """The tar torch.load tries first, over the file as it opens it; None when the bytes are not one."""
    stream = (opener or (lambda: buffered(buf)))()
    try:
        return tarfile.open(fileobj=stream, mode="r:", format=tarfile.PAX_FORMAT)
    except (tarfile.TarError, ValueError, OSError, EOFError, UnicodeDecodeError, struct.error):
        stream.close()
        return None


def read_tar(buf, tar: tarfile.TarFile, uses: Uses) -> Layout:
    """torch < 0.4's tar (torch/serialization.py `legacy_load`): `storages` and `tensors` are extracted and read
    unbuffered, `pickle` through `tar.extractfile` (a link is followed to the member it names)."""
    try:
        _load_members(tar, uses)
        parts = {name: _tar_member(tar, name) for name in ("storages", "tensors", "pickle")}
        layout = Layout("tar", pickles=0)
        objects: dict[int, Any] = {}
        _tar_storages(tar, parts["storages"], uses, objects, layout)
        _tar_tensors(tar, parts["tensors"], uses, objects, layout)

        def persistent_load(saved_id):
            if isinstance(saved_id, tuple):
                return saved_id[0]
            try:
                return objects[int(saved_id)]
            except (KeyError, ValueError, TypeError):
                raise pickle.UnpicklingError(f"unknown object {short(saved_id)} in a tar checkpoint") from None

        with tar.extractfile(parts["pickle"]) as stream:  # a link is followed, as tarfile follows it for torch
            layout.root = read_pickle(stream, uses, persistent_load)
        layout.pickles += 1
        return layout
    finally:
        tar.fileobj.close()


def _load_members(tar: tarfile.TarFile, uses: Uses) -> None:
    """Read the member headers one by one, counting them against the `entries` limit."""
    count = 0
    while tar.next() is not None:
        count += 1
        if count & 0x3FF == 0:
            uses.limits.check("entries", count)
    uses.limits.check("entries", count)


def _tar_member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo:
    """The member torch reads for `name`: the last of that name; a link resolved as tarfile resolves it."""
    try:
        member = tar.getmember(name)
    except KeyError:
        raise FormatError(f"a tar archive without the '{name}' member of torch's pre-0.4 format") from None
    if name != "pickle" and member.issym():  # extracted as a link on disk: torch would open whatever it names
        raise FormatError(f"the tar member '{name}' is a symbolic link to {member.linkname!r}: torch would extract "
                          "it as a link and read whatever file it names")
    try:
        resolved = tar._find_link_target(member) if member.islnk() or member.issym() else member
    except KeyError:
        raise FormatError(f"the tar member '{name}' links to {member.linkname!r}, which the archive lacks") from None
    if not resolved.isfile():
        raise FormatError(f"the tar member '{name}' is not a file")
    return resolved


def _extracted(tar: tarfile.TarFile, member: tarfile.TarInfo) -> tuple[io.BytesIO, int]:
    """A member's bytes as torch reads them once extracted (unbuffered: no peek), and their offset in the file."""
    with tar.extractfile(member) as f:
        data = f.read()
    return member_stream(data), member.offset_data


def _tar_storages(tar: tarfile.TarFile, member: tarfile.TarInfo, uses: Uses, objects: dict, layout: Layout) -> None:
    stream, base = _extracted(tar, member)
    end = member.size
    count = bounded(read_pickle(stream, uses, None), member.size)
    uses.limits.check("entries", count)
    layout.pickles += 1
    for _ in range(count):
        key, location, storage_type = triple(read_pickle(stream, uses, None))
        layout.pickles += 1
        if not isinstance(storage_type, StorageType):
            raise FormatError("a storage of a tar checkpoint names no storage type")
        pos = stream.tell()
        numel = int64_at(stream.getbuffer(), pos, "storage size")
        storage = Storage.of(str(key), storage_type.dtype, text_of(location), numel)
        layout.data[storage.key] = (base + pos + 8, storage.nbytes)
        stream.seek(pos + 8 + storage.nbytes)
        if stream.tell() > end:
            raise FormatError(f"storage {key} runs past the end of its tar member: truncated")
        objects[key_of(key)] = StorageRef(storage)
    views = read_pickle(stream, uses, None)
    layout.pickles += 1
    for target, root, offset, _numel in views if isinstance(views, list) else ():
        base_ref = objects.get(key_of(root))
        if not isinstance(base_ref, StorageRef):
            raise FormatError(f"a storage view of a tar checkpoint names an unknown storage {root}")
        objects[key_of(target)] = StorageRef(base_ref.storage, base_ref.offset + nonnegative(offset))


def _tar_tensors(tar: tarfile.TarFile, member: tarfile.TarInfo, uses: Uses, objects: dict, layout: Layout) -> None:
    stream, _ = _extracted(tar, member)
    count = bounded(read_pickle(stream, uses, None), member.size)
    uses.limits.check("entries", count)
    layout.pickles += 1
    for _ in range(count):
        key, storage_id, _kind = triple(read_pickle(stream, uses, None))
        layout.pickles += 1
        ref = objects.get(key_of(storage_id))
        if not isinstance(ref, StorageRef):
            raise FormatError(f"a tensor of a tar checkpoint names an unknown storage {storage_id}")
        head = stream.read(8)
        if len(head) < 8:
            raise FormatError("a tensor record of a tar checkpoint is cut short")
        (ndim,) = struct.unpack("<i", head[:4])
        if not 0 <= ndim <= 64:
            raise FormatError("a tensor record of a tar checkpoint has an impossible rank")
        body = stream.read(16 * ndim + 8)
        if len(body) < 16 * ndim + 8:
            raise FormatError("a tensor record of a tar checkpoint is cut short")
        values = struct.unpack(f"<{2 * ndim + 1}q", body)
        shape, stride, offset = values[:ndim], values[ndim:2 * ndim], values[-1]
        s = ref.storage
        objects[key_of(key)] = uses.tensor(Tensor(s, ref.offset + offset, tuple(shape), tuple(stride), s.dtype))


# --- safetensors ---------------------------------------------------------------------------------

