"""Files built to exhaust a reader, written without torch: each must end in a finding, bounded.

Each case is the structure, not a payload: a million directory entries, a deflate bomb, 200,000
tensors over one storage through the memo, gigabytes of bytearray, a stride-0 tensor claiming 2^40
elements, nesting a million levels deep. `expects` is the rule each must get (OD125 when a limit
stops the read, OD100 or OD122 when the file is plainly damaged).
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrdoctor.checks.examples.files import deflate_bomb, nested_lists, zip_bytes
from tests import torchfile as tf
from tests.torchfile import call, global_, integer, pickled, text, tuple_


@dataclass(frozen=True)
class Hostile:
    name: str
    write: Callable[[Path], None]
    expects: str  # OD125, OD100 or OD122
    limit: str | None = None  # the limit OD125 must name

    def __repr__(self) -> str:
        return self.name


def _storage(key: str, numel: int, dtype: str = "FloatStorage") -> bytes:
    return tuple_(text("storage"), global_("torch", dtype), text(key), text("cpu"), integer(numel)) + b"Q"


def _tensor(storage: bytes, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    return call(global_("torch._utils", "_rebuild_tensor_v2"), storage, integer(offset),
                tuple_(*map(integer, shape)), tuple_(*map(integer, stride)), b"\x89",
                call(global_("collections", "OrderedDict")))


def _zip(path: Path, body: bytes, storages: dict[str, bytes], extra: dict[str, bytes] | None = None) -> None:
    with open(path, "wb") as f, __import__("zipfile").ZipFile(f, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02" + body + b".")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
        z.writestr("archive/version", "3\n")


def shared_storage(path: Path, tensors: int = 200_000) -> None:
    """200,000 tensor records over one storage: the storage and the rebuild function fetched from the memo."""
    head = _storage("0", 4) + b"q\x000" + global_("torch._utils", "_rebuild_tensor_v2") + b"q\x010"
    one = b"h\x01(h\x00K\x00K\x04\x85K\x01\x85\x89}tR"
    _zip(path, head + b"}(" + b"".join(text(f"t{i}") + one for i in range(tensors)) + b"u",
         {"0": np.ones(4, np.float32).tobytes()})


def many_entries(path: Path, entries: int = 210_000) -> None:
    """A real torch zip plus 210,000 tiny members: the directory alone is past the limit."""
    members = [(b"archive/data.pkl", 0, pickled(b"}"), 3, zlib.crc32(pickled(b"}"))),
               (b"archive/version", 0, b"3\n", 2, zlib.crc32(b"3\n"))]
    members += [(b"archive/extra/%07d" % i, 0, b"", 0, 0) for i in range(entries)]
    path.write_bytes(zip_bytes(members))


def safetensors_entries(path: Path, entries: int = 210_000) -> None:
    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(entries)}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(4 * entries))


def unread_bomb(path: Path) -> None:
    """A 1 GiB deflate bomb in a member torch never reads, beside a valid checkpoint."""
    deflate_bomb(path, member=b"archive/unused.bin")


def bytearrays(path: Path, count: int = 4, size: int = 1 << 28) -> None:
    one = call(global_("builtins", "bytearray"), integer(size))
    path.write_bytes(pickled(b"(" + one * count + b"l"))


def stride_zero(path: Path) -> None:
    body = b"}(" + text("w") + _tensor(_storage("0", 1), 0, (1 << 40,), (0,)) + b"u"
    _zip(path, body, {"0": np.ones(1, np.float32).tobytes()})


def broadcast_views(path: Path, views: int = 5_000) -> None:
    """5,000 different views, each reading the whole 1M-element storage (overlapping: 5,000 times its size)."""
    n = 1 << 20
    store = _storage("0", n) + b"q\x00"
    body = b"}(" + b"".join(text(f"v{i}") + _tensor(b"h\x00", i, (n - i,), (1,)) for i in range(views)) + b"u"
    _zip(path, store + b"0" + body, {"0": np.ones(n, np.float32).tobytes()})


def deep_nesting(path: Path) -> None:
    path.write_bytes(nested_lists(1_000_000))


def legacy_storages(path: Path, count: int = 210_000) -> None:
    """A legacy file whose object names 210,000 storages."""
    entries = b"".join(text(f"t{i}") + _legacy_tensor(str(i)) for i in range(count))
    obj = pickled(b"}(" + entries + b"u")
    head = pickled(integer(tf.LEGACY_MAGIC)) + pickled(integer(1001)) + pickled(b"}")
    path.write_bytes(head + obj + pickled(b"]"))


def _legacy_tensor(key: str) -> bytes:
    storage = tuple_(text("storage"), global_("torch", "FloatStorage"), text(key), text("cpu"), integer(1), b"N") + b"Q"
    return call(global_("torch._utils", "_rebuild_tensor_v2"), storage, integer(0), tuple_(integer(1)),
                tuple_(integer(1)), b"\x89", call(global_("collections", "OrderedDict")))


def many_globals(path: Path, count: int = 21_000) -> None:
    body = b"".join(b"c" + f"mod{i}\nname\n".encode() + b"0" for i in range(count))
    path.write_bytes(b"\x80\x02" + body + b"N.")


def many_objects(path: Path, count: int = 600_000) -> None:
    """600,000 objects rebuilt from one harmless class (argparse.Namespace)."""
    body = global_("argparse", "Namespace") + b"q\x00" + b"(" + b"h\x00)\x81" * count + b"l"
    path.write_bytes(b"\x80\x02" + body + b".")


def memo_index(path: Path) -> None:
    """LONG_BINPUT 2**30: the C unpickler sizes its memo from the largest index a pickle names."""
    path.write_bytes(b"\x80\x02N" + b"r" + struct.pack("<I", 1 << 30) + b".")


def length_claim(path: Path) -> None:
    """A legacy file whose first pickle claims 2**62 bytes of data."""
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 62) + b"x" * 16)


def extent_past_storage(path: Path) -> None:
    body = b"}(" + text("w") + _tensor(_storage("0", 4), 2, (100,), (1,)) + b"u"
    _zip(path, body, {"0": np.ones(4, np.float32).tobytes()})


def tar_count(path: Path) -> None:
    """A pre-0.4 tar whose storages member claims a billion storages."""
    members = {"storages": pickled(integer(10 ** 9)), "tensors": pickled(integer(0)), "pickle": pickled(b"}")}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def zip64_count(path: Path) -> None:
    """A zip64 directory record declaring 2**33 entries."""
    data = bytearray(zip_bytes([(b"archive/data.pkl", 0, pickled(b"}"), 3, zlib.crc32(pickled(b"}")))]))
    end = data.rfind(b"PK\x05\x06")
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 1 << 33, 1 << 33, 46, 0)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    path.write_bytes(bytes(data[:end]) + record + locator + bytes(data[end:]))


HOSTILE = [
    Hostile("shared-storage-200k", shared_storage, "OD125", "shared"),
    Hostile("zip-210k-entries", many_entries, "OD125", "entries"),
    Hostile("safetensors-210k-entries", safetensors_entries, "OD125", "entries"),
    Hostile("deflate-bomb-data-pkl", deflate_bomb, "OD125", "inflated"),
    Hostile("deflate-bomb-unread-member", unread_bomb, "OD125", "inflated"),
    Hostile("bytearrays-4x256mib", bytearrays, "OD125", "materialised"),
    Hostile("stride-zero-2e40", stride_zero, "OD125", "elements"),
    Hostile("overlapping-views", broadcast_views, "OD125", "overlap"),
    Hostile("nesting-1m-levels", deep_nesting, "OD125", "nesting"),
    Hostile("legacy-210k-storages", legacy_storages, "OD125", "entries"),
    Hostile("distinct-globals-21k", many_globals, "OD125", "globals"),
    Hostile("objects-600k", many_objects, "OD125", "records"),
    Hostile("memo-index-2e30", memo_index, "OD125"),
    Hostile("length-claim-2e62", length_claim, "OD125"),
    Hostile("extent-past-storage", extent_past_storage, "OD100"),
    Hostile("tar-billion-storages", tar_count, "OD100"),
    Hostile("zip64-2e33-entries", zip64_count, "OD100"),
]
