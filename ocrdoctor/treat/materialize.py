"""torch tensors built from the reader's records: `torch.frombuffer` over the storage bytes.

No code path calls `torch.load` on a user's file: torch's weights-only loader has had
code-execution bugs (CVE-2025-32434 below torch 2.6, CVE-2026-24747 below 2.10) and deployments
run old torch. The reader has already walked the file with stubs; here each storage's bytes
become one flat torch tensor (read-only views of the memory-mapped file, shared by every
tensor viewing that storage) and each record a strided view of it. Callers that keep the
tensors clone them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from ..read.file import Checkpoint
from ..read.records import ITEMSIZE, Tensor


class MaterializeError(ValueError):
    """A record cannot become a torch tensor (no data, a layout torch cannot rebuild from bytes)."""


def state_dict(ckpt: Checkpoint, named: Iterable[tuple[str, Tensor]]) -> dict[str, Any]:
    """{name: torch.Tensor} for the records, storages shared as in the file."""
    bases: dict[str, Any] = {}
    return {name: to_torch(ckpt, t, bases) for name, t in named}


def to_torch(ckpt: Checkpoint, record: Tensor, bases: dict[str, Any] | None = None) -> Any:
    import torch

    dtype = getattr(torch, record.dtype, None)
    if not isinstance(dtype, torch.dtype):
        raise MaterializeError(f"dtype {record.dtype} is not known to the installed torch {torch.__version__}")
    if record.kind == "meta":
        return torch.empty_strided(record.shape, record.stride, dtype=dtype, device="meta")
    if record.kind == "quantized":
        return dequantized(ckpt, record, bases, torch)
    if record.kind != "dense":
        raise MaterializeError(f"a {record.kind} tensor cannot be rebuilt from its bytes alone")
    storage = record.storage
    key = storage.key
    base = None if bases is None else bases.get(key)
    if base is None:
        base = _storage_tensor(ckpt, record, torch)
        if bases is not None:
            bases[key] = base
    view_dtype = base.view(dtype) if base.dtype != dtype else base
    if (record.offset + record.span) > view_dtype.numel():
        raise MaterializeError(f"a view reaches past the end of storage {key}")
    return view_dtype.as_strided(record.shape, record.stride, record.offset)


_INTEGERS = {"qint8": "int8", "quint8": "uint8", "qint32": "int32"}


def dequantized(ckpt: Checkpoint, record: Tensor, bases: dict[str, Any] | None, torch) -> Any:
    """A quantized record as float32: (q - zero_point) * scale, per tensor or per channel along its axis."""
    integer = _INTEGERS.get(record.dtype)
    scheme = record.quantization or ""
    if integer is None or not record.qparams:
        raise MaterializeError(f"a {record.dtype} tensor ({scheme or 'no scheme'}) cannot be dequantized")
    raw = to_torch(ckpt, _as_dense(record, integer), bases).to(torch.float32)
    if scheme in ("per_tensor_affine", "per_tensor_symmetric") and len(record.qparams) == 2:
        scale, zero = (float(v) for v in record.qparams)
        return (raw - zero) * scale
    if scheme.startswith("per_channel") and len(record.qparams) == 3:
        scales, zeros, axis = record.qparams
        if not (isinstance(scales, Tensor) and isinstance(zeros, Tensor) and isinstance(axis, int)):
            raise MaterializeError(f"a {scheme} tensor without per-channel scales cannot be dequantized")
        shape = [1] * len(record.shape)
        shape[axis] = -1
        s = to_torch(ckpt, scales, bases).to(torch.float64).reshape(shape)
        z = to_torch(ckpt, zeros, bases).to(torch.float64).reshape(shape)
        return ((raw.to(torch.float64) - z) * s).to(torch.float32)
    raise MaterializeError(f"a {scheme} tensor cannot be dequantized")


def _as_dense(record: Tensor, dtype: str) -> Tensor:
    """The quantized record's integers, as a dense record of the same view."""
    dense = Tensor(record.storage, record.offset, record.shape, record.stride, dtype)
    return dense


def _storage_tensor(ckpt: Checkpoint, record: Tensor, torch) -> Any:
    """The whole storage as a flat uint8 tensor over the file's bytes."""
    storage = record.storage
    found = ckpt.layout.data.where(storage.key)
    if found is None:
        raise MaterializeError(f"storage {storage.key} has no data in the file")
    buffer, base, length = found
    buffer = ckpt.buffer if buffer is None else buffer
    count = min(length, storage.nbytes)
    if ckpt.layout.byteorder != "little" and ITEMSIZE.get(storage.dtype, 1) > 1:
        return _swapped(buffer, base, count, storage.dtype, torch)
    if count == 0:
        return torch.empty(0, dtype=torch.uint8)
    with warnings.catch_warnings():  # a read-only mapping: callers clone what they keep
        warnings.simplefilter("ignore")
        return torch.frombuffer(buffer, dtype=torch.uint8, count=count, offset=base)


def _swapped(buffer, base: int, count: int, dtype: str, torch) -> Any:
    """A big-endian storage, byte-swapped into a new little-endian one."""
    import numpy as np

    size = ITEMSIZE[dtype]
    words = np.frombuffer(buffer, dtype=f">u{size}" if size in (2, 4, 8) else "u1", count=count // size, offset=base)
    return torch.from_numpy(words.astype(f"<u{size}").view(np.uint8).copy())
