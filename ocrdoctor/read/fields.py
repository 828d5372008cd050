"""Small validators of the values a layout's records hold: a hostile count or key is an error, never a crash."""

from __future__ import annotations

import pickle
import struct
from typing import Any


class FormatError(ValueError):
    """The file has the layout's shape but cannot be read as it; the message says why."""


def unpack_at(fmt: struct.Struct, buf, offset: int) -> tuple:
    """`fmt.unpack_from(buf, offset)` over any byte source: a mapped file or bytes directly, a remote file
    (which has slices, not the buffer protocol) through the slice. Raises struct.error when cut short."""
    try:
        return fmt.unpack_from(buf, offset)
    except TypeError:
        return fmt.unpack(bytes(buf[offset:offset + fmt.size])) if offset >= 0 else fmt.unpack_from(b"", 0)


_INT64 = struct.Struct("<q")


def int64_at(buf, pos: int, what: str) -> int:
    if pos + 8 > len(buf):
        raise FormatError(f"the file ends inside a {what}: truncated")
    (value,) = unpack_at(_INT64, buf, pos)
    if value < 0:
        raise FormatError(f"a negative {what}")
    return value


def nonnegative(value: Any) -> int:
    if not isinstance(value, int) or value < 0:
        raise pickle.UnpicklingError("a storage size or offset is not a count")
    return value


def bounded(value: Any, limit: int) -> int:
    if not isinstance(value, int) or not 0 <= value <= limit:
        raise FormatError("a record count of a tar checkpoint is not a plausible number")
    return value


def triple(value: Any) -> tuple:
    if not isinstance(value, tuple) or len(value) != 3:
        raise FormatError("a record of a tar checkpoint is not a (key, ..., ...) triple")
    return value


def key_of(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def text_of(value: Any) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
