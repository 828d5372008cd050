"""Zip archives read the way torch's own reader (miniz) reads them, not the way Python's zipfile does.

The differences are where scanners have been fooled (picklescan's and modelscan's advisories):
names are compared raw and ASCII-case-insensitively (zipfile cuts a name at a NUL byte and
compares exactly), offsets are taken as written (zipfile shifts them past bytes prepended to the
archive), and CRCs are not checked (torch builds miniz without the check, zipfile refuses the
member). Only the central directory is trusted for names and sizes, as miniz does, and a valid
zip64 locator before the end record makes miniz (and zipfile) read the zip64 directory whatever
the classic record says (miniz.c, mz_zip_reader_read_central_dir): so does this reader.

Cost is bounded before anything is built: the entry count is checked against the limits before
the directory is parsed, and a member is inflated only when torch would read it, up to its
declared size and the `inflated` limit.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

from .fields import unpack_at
from .limits import DEFAULT, Limits
from .remote import is_ranged

LOCAL_MAGIC = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_END = b"PK\x05\x06"
_END64_LOCATOR = b"PK\x06\x07"
_END64 = b"PK\x06\x06"
_END_SIZE = 22
_MAX_COMMENT = 0xFFFF
_STORED, _DEFLATED = 0, 8


class ArchiveError(ValueError):
    """The bytes are not a zip archive torch could open; the message says why."""


class Member(NamedTuple):
    name: bytes  # raw, as the central directory stores it (NUL bytes and all)
    method: int
    compressed: int
    size: int
    header: int  # offset of the local header

    @property
    def text(self) -> str:
        return self.name.decode("utf-8", "replace")

    @property
    def c_name(self) -> str:
        """The name as torch's reader hands it on: up to its first NUL byte."""
        return self.name.split(b"\0", 1)[0].decode("utf-8", "replace")


class Archive:
    """The central directory of a zip held in `buf` (bytes, or an mmap: nothing is copied)."""

    def __init__(self, buf, limits: Limits = DEFAULT):
        self.buf, self.limits = buf, limits
        self.members = _central_directory(buf, limits)
        self.by_name: dict[bytes, list[Member]] = {}
        for m in self.members:
            self.by_name.setdefault(m.name.lower(), []).append(m)

    @property
    def prefix(self) -> str:
        """torch's archive folder: the first member's name up to its first slash."""
        if not self.members:
            raise ArchiveError("the archive holds no files")
        first = self.members[0].c_name
        if "/" not in first:
            raise ArchiveError(f"its first file ({first!r}) is not in a folder, as torch.save writes")
        return first.split("/", 1)[0]

    def find(self, name: str) -> list[Member]:
        """Every member miniz's lookup could return for `name` (ASCII case ignored)."""
        return self.by_name.get(name.encode("utf-8").lower(), [])

    def span(self, member: Member) -> tuple[int, int]:
        """(offset, length) of a stored member's bytes in the buffer."""
        start = self._data_start(member)
        if member.method != _STORED:
            raise ArchiveError(f"{member.text} is compressed")
        return start, member.size

    def spans(self, members: list[Member]) -> list[int]:
        """The data offset of each stored member, read from all local headers at once (-1: damaged)."""
        import numpy as np

        if not members:
            return []
        if is_ranged(self.buf):  # a remote file: each header read from what ZipData.prepare fetched
            return self._remote_spans(members)
        raw = np.frombuffer(self.buf, dtype=np.uint8)
        headers = np.fromiter((m.header for m in members), dtype=np.int64, count=len(members))
        sizes = np.fromiter((m.compressed for m in members), dtype=np.int64, count=len(members))
        ok = headers + 30 <= raw.size
        at = np.where(ok, headers, 0)
        magic = raw[at] | (raw[at + 1].astype(np.int64) << 8) | (raw[at + 2].astype(np.int64) << 16) \
            | (raw[at + 3].astype(np.int64) << 24)
        lengths = raw[at + 26].astype(np.int64) | (raw[at + 27].astype(np.int64) << 8)
        lengths += raw[at + 28].astype(np.int64) | (raw[at + 29].astype(np.int64) << 8)
        starts = at + 30 + lengths
        ok &= (magic == 0x04034B50) & (starts + sizes <= raw.size)
        return np.where(ok, starts, -1).tolist()

    def _remote_spans(self, members: list[Member]) -> list[int]:
        """Data offsets read from a remote file's local headers, one at a time (ZipData.prepare fetches them
        beforehand, with the bytes behind them); -1 where a header is damaged."""
        starts = []
        for m in members:
            try:
                starts.append(self._data_start(m))
            except ArchiveError:
                starts.append(-1)
        return starts

    def read(self, member: Member, limit: int | None = None) -> bytes:
        """A member's bytes (stored or deflated, as miniz reads them; no CRC check)."""
        start = self._data_start(member)
        raw = self.buf[start:start + member.compressed]
        if len(raw) < member.compressed:
            raise ArchiveError(f"{member.text} is cut short: the archive is truncated")
        if member.method == _STORED:
            return bytes(raw[:member.size])
        if member.method != _DEFLATED:
            raise ArchiveError(f"{member.text} uses compression method {member.method}, which torch cannot read")
        self.limits.check("inflated", member.size)
        cap = member.size if limit is None else min(member.size, limit)
        try:
            out = zlib.decompressobj(-15).decompress(bytes(raw), cap)
        except zlib.error as exc:
            raise ArchiveError(f"{member.text} does not inflate: {exc}") from None
        return out

    def _data_start(self, member: Member) -> int:
        try:
            magic, name_len, extra_len = unpack_at(_LOCAL_LENGTHS, self.buf, member.header)
        except struct.error:
            magic = name_len = extra_len = 0
        if magic != LOCAL_MAGIC:
            raise ArchiveError(f"no local header for {member.text} at offset {member.header}")
        start = member.header + 30 + name_len + extra_len
        if start + member.compressed > len(self.buf):
            raise ArchiveError(f"{member.text} runs past the end of the file: the archive is truncated")
        return start


    def raw(self, member: Member) -> tuple[int, bytes]:
        """(method, the member's bytes as stored): compares members without inflating them."""
        start = self._data_start(member)
        return member.method, bytes(self.buf[start:start + member.compressed])


def _central_directory(buf, limits: Limits) -> list[Member]:
    try:
        return _read_directory(buf, limits)
    except struct.error:
        raise ArchiveError("truncated or corrupt zip archive: a directory record is cut short") from None


EXTRA_GUESS = 128  # a local header's extra field, guessed when fetching it remotely (torch pads to 64 bytes)
_CENTRAL_ENTRY = struct.Struct("<4s6xH8xIIHHH8xI")  # magic, method, sizes, name/extra/comment lengths, header
_LOCAL_LENGTHS = struct.Struct("<4s22xHH")
_END_FIELDS, _END64_FIELDS = struct.Struct("<HHHHII"), struct.Struct("<IIQQQQ")
_UINT32, _UINT64 = struct.Struct("<I"), struct.Struct("<Q")


def _read_directory(buf, limits: Limits) -> list[Member]:
    end = _find_end(buf)
    count, cd_size, cd_offset = _directory_extent(buf, end)
    limits.check("entries", count)
    pos, stop = cd_offset, cd_offset + cd_size
    if is_ranged(buf):  # a remote file: the directory in one read (one request), then parsed
        limits.check("materialised", cd_size)  # bytes held in memory, where a mapped file holds none
        buf, pos, stop = buf[cd_offset:stop], 0, cd_size
    members, unpack, append, big = [], _CENTRAL_ENTRY.unpack_from, list.append, 0xFFFFFFFF
    for _ in range(count):
        if pos + 46 > stop:
            raise ArchiveError("corrupt zip archive: the directory holds fewer entries than it declares")
        magic, method, compressed, size, name_len, extra_len, comment_len, header = unpack(buf, pos)
        if magic != _CENTRAL:
            raise ArchiveError("corrupt zip archive: a directory entry is damaged")
        start = pos + 46
        if size == big or compressed == big or header == big:
            extra = buf[start + name_len:start + name_len + extra_len]
            size, compressed, header = _zip64_fields(extra, size, compressed, header)
        append(members, Member(buf[start:start + name_len], method, compressed, size, header))
        pos = start + name_len + extra_len + comment_len
    return members


def _directory_extent(buf, end: int) -> tuple[int, int, int]:
    """(entries, size, offset) of the central directory, as miniz takes them (zip64 record first)."""
    this_disk, cd_disk, on_disk, count, cd_size, cd_offset = unpack_at(_END_FIELDS, buf, end + 4)
    zip64 = _zip64_record(buf, end)
    if zip64 is not None:
        locator, record = zip64
        (disks,) = unpack_at(_UINT32, buf, locator + 16)
        (record_size,) = unpack_at(_UINT64, buf, record + 4)
        this_disk, cd_disk, on_disk, count, cd_size, cd_offset = unpack_at(_END64_FIELDS, buf, record + 16)
        if record_size < 44:
            raise ArchiveError("corrupt zip64 archive: its zip64 directory record is too short")
        if disks != 1:
            raise ArchiveError("a multi-disk zip64 archive, which torch cannot read")
        if count > 0xFFFFFFFF or on_disk > 0xFFFFFFFF or cd_size > 0xFFFFFFFF:
            raise ArchiveError("a zip64 directory larger than torch's reader takes")
    if count != on_disk or ((this_disk | cd_disk) != 0 and (this_disk, cd_disk) != (1, 1)):
        raise ArchiveError("a multi-disk zip archive, which torch cannot read")
    if cd_size < count * 46 or cd_offset + cd_size > len(buf):
        raise ArchiveError("truncated or corrupt zip archive: its directory lies past the end of the file")
    return count, cd_size, cd_offset


def _zip64_record(buf, end: int) -> tuple[int, int] | None:
    """(locator, record) offsets when a zip64 locator sits right before the end record and points at a
    zip64 directory record: miniz then reads the zip64 directory, whatever the classic record says."""
    locator = end - 20
    if end < 20 + 56 or bytes(buf[locator:locator + 4]) != _END64_LOCATOR:
        return None
    (record,) = unpack_at(_UINT64, buf, locator + 8)
    if record > len(buf) - 56:
        raise ArchiveError("corrupt zip64 archive: its locator points past the end of the file")
    if bytes(buf[record:record + 4]) != _END64:
        return None  # miniz ignores a locator without a record and reads the classic directory
    return locator, record


def _find_end(buf) -> int:
    """The last end-of-directory record whose fixed part fits, as miniz and zipfile both take."""
    size = len(buf)
    if size < _END_SIZE:
        raise ArchiveError("truncated or corrupt zip archive: too short for a directory")
    low = max(0, size - _END_SIZE - _MAX_COMMENT)
    tail = bytes(buf[low:size])
    at = tail.rfind(_END, 0, len(tail) - _END_SIZE + 4)
    if at < 0:
        raise ArchiveError("truncated or corrupt zip archive: no central directory")
    return low + at


def _zip64_fields(extra: bytes, size: int, compressed: int, header: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, pos + 4))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if header == 0xFFFFFFFF and values:
                header = values.pop(0)
        pos += 4 + length
    return size, compressed, header
