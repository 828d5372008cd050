"""The safetensors layout: a JSON header and raw bytes, no pickle at all.

Read as the safetensors library reads it (header length, then JSON, offsets relative to the end
of the header); every entry's byte count must hold its shape, so nothing points past the file.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from .fields import FormatError
from .formats import Layout
from .limits import DEFAULT, Limits
from .records import ITEMSIZE, Storage, Tensor

_MAX_HEADER = 100_000_000  # safetensors refuses larger headers
SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu", "C64": "complex64",
}


def read_safetensors(buf, limits: Limits = DEFAULT) -> Layout | None:
    """The layout of a safetensors file; None when the bytes are not one. The tensor count is checked
    against the `entries` limit before the header is parsed."""
    size = len(buf)
    if size < 10:
        return None
    (n,) = struct.unpack("<Q", bytes(buf[0:8]))
    if not 2 <= n <= min(size - 8, _MAX_HEADER) or bytes(buf[8:9]) != b"{":
        return None
    limits.check("entries", bytes(buf[8:8 + n]).count(b'"data_offsets"'))
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8").rstrip(" "))
    except (UnicodeDecodeError, ValueError):
        raise FormatError("its JSON header is damaged") from None
    if not isinstance(header, dict):
        raise FormatError("its header is not a JSON object")
    layout = Layout("safetensors", root={})
    meta = header.pop("__metadata__", None)
    layout.metadata = {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else None
    data_start, data_size = 8 + n, size - 8 - n
    for name, entry in header.items():
        dtype, shape, begin, end = _safetensors_entry(name, entry)
        if end > data_size:
            raise FormatError(f"tensor {name} runs past the end of the file: truncated")
        storage = Storage.of(name, dtype, "cpu", (end - begin) // ITEMSIZE[dtype])
        layout.root[name] = Tensor(storage, 0, shape, _contiguous_strides(shape), dtype)
        layout.data[name] = (data_start + begin, end - begin)
    return layout


def _safetensors_entry(name: str, entry: Any) -> tuple[str, tuple[int, ...], int, int]:
    try:
        dtype = SAFETENSORS_DTYPES[entry["dtype"]]
        shape = tuple(int(d) for d in entry["shape"])
        begin, end = (int(o) for o in entry["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"the header entry of tensor {name} is malformed") from None
    count = 1
    for d in shape:
        count *= d
    if min(shape, default=0) < 0 or not 0 <= begin <= end or end - begin != count * ITEMSIZE[dtype]:
        raise FormatError(f"tensor {name}: {end - begin} bytes do not hold shape {list(shape)} of {dtype}")
    return dtype, shape, begin, end


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))
