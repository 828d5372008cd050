"""Write torch.save files without torch: the opcodes torch's pickler emits, written by hand.

The torch-free tests (and the payload generator) need real checkpoints where torch is not
installed. These writers produce the zip layout (torch >= 1.6), the legacy layout (five pickles
and raw storages) and the pre-0.4 tar layout, with numpy arrays as the tensors' bytes;
tests/test_reader_vs_torch.py checks that torch.load reads them as it reads its own files.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGES = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage", "int64": "LongStorage",
            "int32": "IntStorage", "uint8": "ByteStorage", "bool": "BoolStorage", "int8": "CharStorage",
            "bfloat16": "BFloat16Storage"}


# --- opcodes ------------------------------------------------------------------------------------

def text(value: str) -> bytes:
    data = value.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def integer(value: int) -> bytes:
    if -(2 ** 31) <= value < 2 ** 31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def global_(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def tuple_(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def call(function: bytes, *args: bytes) -> bytes:
    return function + tuple_(*args) + b"R"


def value(obj: Any) -> bytes:
    """The opcodes that push a plain Python value (a protocol 2 pickle without PROTO and STOP)."""
    return pickle.dumps(obj, protocol=2)[2:-1]


def pickled(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


# --- tensors --------------------------------------------------------------------------------------

class Array:
    """A numpy array to save as a tensor; `device` is the location tag torch would write."""

    def __init__(self, data: np.ndarray, device: str = "cpu", dtype: str | None = None):
        self.data, self.device = data, device
        self.dtype = dtype or str(data.dtype)


def _tensor(key: str, array: Array, legacy: bool) -> bytes:
    data = array.data
    numel = int(data.size)
    pid = [text("storage"), global_("torch", STORAGES[array.dtype]), text(key), text(array.device), integer(numel)]
    if legacy:
        pid.append(b"N")
    strides = [s // data.itemsize for s in data.strides] if data.size else [1] * data.ndim
    return call(global_("torch._utils", "_rebuild_tensor_v2"),
                tuple_(*pid) + b"Q", integer(0), tuple_(*map(integer, data.shape)), tuple_(*map(integer, strides)),
                b"\x89", call(global_("collections", "OrderedDict")))


def _mapping(entries: Mapping[str, Any], arrays: dict[str, Array], legacy: bool) -> bytes:
    body = call(global_("collections", "OrderedDict")) + b"("
    for name, item in entries.items():
        body += text(name) + _item(item, arrays, legacy)
    return body + b"u"


class Raw:
    """Opcodes written as they are: a value torch's pickler would emit for a class we do not import."""

    def __init__(self, opcodes: bytes):
        self.opcodes = opcodes


def instance(module: str, name: str, items: Mapping[str, Any] | None = None, state: Mapping[str, Any] | None = None
             ) -> Raw:
    """An object rebuilt as protocol 2 rebuilds one: NEWOBJ, then SETITEMS (a dict subclass) or BUILD."""
    def pairs(mapping: Mapping[str, Any]) -> bytes:
        return b"(" + b"".join(text(k) + (v.opcodes if isinstance(v, Raw) else value(v)) for k,
                               v in mapping.items()) + b"u"

    body = global_(module, name) + b")\x81"
    if items:
        body += pairs(items)
    if state:
        body += b"}" + pairs(state) + b"b"
    return Raw(body)


def _item(item: Any, arrays: dict[str, Array], legacy: bool) -> bytes:
    if isinstance(item, Raw):
        return item.opcodes
    if isinstance(item, np.ndarray):
        item = Array(item)
    if isinstance(item, Array):
        key = str(len(arrays))
        arrays[key] = item
        return _tensor(key, item, legacy)
    if isinstance(item, dict) and any(isinstance(v, (np.ndarray, Array, dict, Raw)) for v in item.values()):
        return _mapping(item, arrays, legacy)
    return value(item)


def _raw(array: Array) -> bytes:
    data = np.ascontiguousarray(array.data)
    if array.dtype == "bfloat16":  # float32 values, rounded to their top 16 bits
        return (data.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    return data.tobytes()


# --- layouts --------------------------------------------------------------------------------------

def save_zip(path: Path, obj: Mapping[str, Any], prefix: str = "archive", body: bytes | None = None,
             members: Mapping[str, bytes] | None = None) -> Path:
    """A torch.save (zip) file of `obj` (tensors as numpy arrays); `body` replaces the pickle's opcodes."""
    arrays: dict[str, Array] = {}
    pickle_bytes = pickled(body if body is not None else _mapping(obj, arrays, legacy=False))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{prefix}/data.pkl", pickle_bytes)
        archive.writestr(f"{prefix}/byteorder", "little")
        for key, array in arrays.items():
            archive.writestr(f"{prefix}/data/{key}", _raw(array))
        for name, data in (members or {}).items():
            archive.writestr(name, data)
        archive.writestr(f"{prefix}/version", "3\n")
    return path


def save_legacy(path: Path, obj: Mapping[str, Any], magic: bytes | None = None, parts: Mapping[int, bytes] | None = None
                ) -> Path:
    """The pre-1.6 layout; `magic` replaces the first pickle, `parts[i]` the i-th (0-4)."""
    arrays: dict[str, Array] = {}
    main = pickled(_mapping(obj, arrays, legacy=True))
    pickles = [magic or pickle.dumps(LEGACY_MAGIC, protocol=2), pickle.dumps(1001, protocol=2),
               pickle.dumps({"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2),
               main, pickle.dumps(list(arrays), protocol=2)]
    for i, replacement in (parts or {}).items():
        pickles[i] = replacement
    data = b"".join(pickles)
    for array in arrays.values():
        data += struct.pack("<q", array.data.size) + _raw(array)
    path.write_bytes(data)
    return path


def save_tar(path: Path, obj: Mapping[str, np.ndarray], parts: Mapping[str, bytes] | None = None) -> Path:
    """The pre-0.4 tar layout: `storages`, `tensors` and `pickle` members; `parts` replaces a member."""
    storages = pickle.dumps(len(obj), protocol=2)
    tensors = pickle.dumps(len(obj), protocol=2)
    main_entries = b""
    for i, (name, array) in enumerate(obj.items()):
        dtype = STORAGES[str(array.dtype)]
        storages += pickled(tuple_(integer(i), text("cpu"), global_("torch", dtype)))
        storages += struct.pack("<q", array.size) + np.ascontiguousarray(array).tobytes()
        key = 1000 + i
        tensors += pickled(tuple_(integer(key), integer(i), global_("torch", dtype.replace("Storage", "Tensor"))))
        strides = [s // array.itemsize for s in array.strides]
        tensors += struct.pack("<i", array.ndim) + b"\0" * 4
        tensors += struct.pack(f"<{2 * array.ndim + 1}q", *array.shape, *strides, 0)
        main_entries += text(name) + text(str(key)) + b"Q"
    storages += pickle.dumps([], protocol=2)
    main = pickled(call(global_("collections", "OrderedDict")) + b"(" + main_entries + b"u")
    members = {"storages": storages, "tensors": tensors, "pickle": main, **(parts or {})}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            data = members.get(name, pickle.dumps({"little_endian": True}, protocol=2))
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def save_safetensors(path: Path, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> Path:
    import json

    codes = {"float32": "F32", "float64": "F64", "float16": "F16", "int64": "I64", "int32": "I32", "uint8": "U8",
             "bool": "BOOL", "int8": "I8"}
    header: dict[str, Any] = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": codes[str(array.dtype)], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
    return path


def trained(shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays for a state_dict's shapes that look trained: no value at an initialization constant."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            out[name] = np.array(1000, dtype=np.int64)
        elif name.endswith("running_var"):
            out[name] = (rng.random(shape) + 0.5).astype(np.float32)
        else:
            out[name] = (rng.standard_normal(shape) * 0.05 + 0.01).astype(np.float32)
    return out
