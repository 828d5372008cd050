"""The values rules need, read straight from the storage bytes with numpy (memory-mapped, never torch).

Per tensor: how many values are NaN or infinite, and the minimum, maximum and mean of the finite
ones (a constant tensor has minimum == maximum; weight matrices past a million elements skip
minimum and maximum: no rule asks whether they are constant). bfloat16 and float8
are widened exactly; quantized and data-less tensors have no statistics.

Small contiguous tensors are gathered from the file in one vectorized step per dtype and
reduced together (a file of 100,000 biases costs a few numpy calls, not 100,000); large ones
are reduced in chunks so memory stays flat whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import NamedTuple

import numpy as np

from .limits import DEFAULT, Hostile, Limits
from .records import Tensor

_NUMPY = {
    "float64": "f8", "float32": "f4", "float16": "f2", "int64": "i8", "int32": "i4", "int16": "i2", "int8": "i1",
    "uint64": "u8", "uint32": "u4", "uint16": "u2", "uint8": "u1", "bool": "u1", "complex64": "c8", "complex128": "c16",
    "bfloat16": "u2", "float8_e5m2": "u1", "float8_e4m3fn": "u1",
}
_SMALL = 1 << 15  # elements: contiguous tensors up to this size are gathered and reduced in batches
_BATCH = 1 << 22  # elements gathered at once
_CHUNK = 1 << 20
_TINY = 64  # elements: below this average size a gather beats joining slices
_EXTREMES = 1 << 20  # elements: above this a tensor is a weight matrix, never a norm or a bias: no min / max


class Stats(NamedTuple):
    nonfinite: int
    minimum: float | None  # of the finite values; None when there are none
    maximum: float | None
    mean: float | None

    @property
    def constant(self) -> float | None:
        """The one value of a tensor whose elements are all equal (and finite)."""
        if self.nonfinite == 0 and self.minimum is not None and self.minimum == self.maximum:
            return self.minimum
        return None


_EMPTY = Stats(0, None, None, None)


class Located(NamedTuple):
    """Where a tensor's values are: a buffer (the mapped file, or a decompressed member) and a byte offset."""

    buffer: object
    start: int  # byte offset of the tensor's first element in `buffer`
    limit: int  # bytes of its storage available from `start`
    tensor: Tensor


def numpy_dtype(tensor: Tensor, byteorder: str = "little") -> np.dtype | None:
    if tensor.kind != "dense" and tensor.kind != "nested":
        return None
    return _dtype(tensor.dtype, byteorder)


@cache
def _dtype(name: str, byteorder: str) -> np.dtype | None:
    code = _NUMPY.get(name)
    return None if code is None else np.dtype(code).newbyteorder("<" if byteorder == "little" else ">")


def array(where: Located, byteorder: str = "little") -> np.ndarray | None:
    """The tensor's values as a numpy array viewing the buffer, widened where numpy lacks the dtype."""
    t = where.tensor
    dtype = numpy_dtype(t, byteorder)
    if dtype is None or t.span * dtype.itemsize > where.limit:
        return None  # no numeric dtype, or the view reaches past its storage (torch refuses it too)
    count = max(t.span, 0)
    flat = np.frombuffer(where.buffer, dtype=dtype, count=count, offset=where.start)
    if t.contiguous:
        values = flat[:t.numel].reshape(t.shape)
    else:
        values = np.lib.stride_tricks.as_strided(flat, t.shape, [s * dtype.itemsize for s in t.stride],
                                                 writeable=False)
    return _widen(values, t.dtype)


def _widen(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return (values.astype(np.uint32) << 16).view(np.float32)
    if dtype == "float8_e5m2":
        return (values.astype(np.uint16) << 8).view(np.float16)
    if dtype == "float8_e4m3fn":
        return _E4M3[values]
    if dtype == "bool":
        return values != 0
    return values


def _e4m3_table() -> np.ndarray:
    table = np.empty(256, dtype=np.float32)
    for byte in range(256):
        sign = -1.0 if byte & 0x80 else 1.0
        exponent, mantissa = (byte >> 3) & 0xF, byte & 0x7
        if exponent == 0xF and mantissa == 0x7:
            table[byte] = np.nan
        elif exponent == 0:
            table[byte] = sign * mantissa / 8 * 2.0 ** -6
        else:
            table[byte] = sign * (1 + mantissa / 8) * 2.0 ** (exponent - 7)
    return table


_E4M3 = _e4m3_table()


def statistics(tensors: Sequence[Tensor], resolve: Callable[[str], tuple | None], file_buffer,
               byteorder: str = "little", limits: Limits = DEFAULT) -> list[Stats | None]:
    """Stats for each tensor; `resolve(key)` gives (buffer or None for `file_buffer`, offset, length) of a storage.

    Non-finite values are counted, not warned about: numpy's floating-point warnings (a signalling
    NaN cast to float64 under numpy 1.x, an overflow in a sum of squares) are silenced here.
    Work is bounded per storage: a view is read once however many tensors repeat it, a broadcast
    view (stride 0) over the elements it covers, and overlapping views of one storage together read
    at most `overlap` times its size (OD125 beyond).
    """
    with np.errstate(all="ignore"):
        return _statistics(tensors, resolve, file_buffer, byteorder, limits)


def _statistics(tensors: Sequence[Tensor], resolve: Callable[[str], tuple | None], file_buffer,
                byteorder: str, limits: Limits) -> list[Stats | None]:
    """The loop does per tensor only what must be: where its bytes are. Small contiguous tensors are
    then gathered by numpy, per buffer and dtype, in batches."""
    out: list[Stats | None] = [None] * len(tensors)
    groups: dict[tuple[int, str], tuple[list[int], list[int], list[int], object]] = {}
    seen: dict[tuple, int] = {}  # a view already computed -> its index
    repeats: list[tuple[int, int]] = []
    read: dict[str, int] = {}  # storage key -> elements its views read so far
    for i, t in enumerate(tensors):
        s = t.storage
        if s is None or (t.kind != "dense" and t.kind != "nested"):
            continue
        view = (s.key, t.offset, t.shape, t.stride, t.dtype)
        first = seen.setdefault(view, i)
        if first != i:
            repeats.append((i, first))
            continue
        work = read[s.key] = read.get(s.key, 0) + min(t.numel, max(t.span, 0))
        if limits.overlap is not None and work > limits.overlap * s.numel + (1 << 20):
            raise Hostile("overlap", work // max(s.numel, 1), limits.overlap, f" (storage {s.key})")
        dtype = _dtype(t.dtype, byteorder)
        found = resolve(s.key) if dtype is not None else None
        if found is None:
            continue
        buffer, base, length = found
        buffer = file_buffer if buffer is None else buffer
        size = dtype.itemsize
        start = base + t.offset * size
        limit = min(min(length, s.nbytes) - t.offset * size, len(buffer) - start)
        numel = t.numel
        if numel == 0:
            out[i] = _EMPTY
        elif numel <= _SMALL and dtype.kind != "c" and numel * size <= limit and t.contiguous:
            key = (id(buffer), t.dtype)
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], [], [], buffer)
            group[0].append(i)
            group[1].append(start)
            group[2].append(numel)
        elif t.span * size <= limit:
            located = Located(buffer, start, limit, t)
            out[i] = _one(array(located, byteorder) if t.numel <= t.span else _covered(located, byteorder))
    for (_, name), (indices, starts, counts, buffer) in groups.items():
        for lo, hi in _batches(counts):
            stats = _gathered(buffer, starts[lo:hi], counts[lo:hi], name, byteorder)
            for i, value in zip(indices[lo:hi], stats, strict=False):
                out[i] = value
    for i, first in repeats:
        out[i] = out[first]
    return out


def _covered(where: Located, byteorder: str) -> np.ndarray | None:
    """The elements a broadcast view (more elements than it spans: stride 0) covers, each once."""
    t = where.tensor
    dtype = numpy_dtype(t, byteorder)
    if dtype is None:
        return None
    flat = np.frombuffer(where.buffer, dtype=dtype, count=max(t.span, 0), offset=where.start)
    return _widen(flat, t.dtype)


def _batches(counts: list[int]) -> list[tuple[int, int]]:
    """Index ranges of about _BATCH elements each."""
    bounds, lo, size = [], 0, 0
    for i, n in enumerate(counts):
        size += n
        if size >= _BATCH:
            bounds.append((lo, i + 1))
            lo, size = i + 1, 0
    return bounds + ([(lo, len(counts))] if lo < len(counts) else [])


def _gathered(buffer, start_list: list[int], count_list: list[int], name: str, byteorder: str) -> list[Stats]:
    """Many small tensors of one dtype from one buffer: their bytes joined in one copy, then one reduction."""
    dtype = _dtype(name, byteorder)
    size = dtype.itemsize
    counts = np.array(count_list, dtype=np.int64)
    firsts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if len(count_list) * _TINY < int(counts[-1] + firsts[-1]):  # few, larger tensors: join their slices
        raw = np.frombuffer(buffer, dtype=np.uint8)
        joined = np.concatenate([raw[start:start + count * size] for start, count in zip(start_list, count_list,
                                                                                         strict=False)])
        values = joined.view(dtype)
    else:  # many tiny tensors: one vectorized gather, element by element where aligned, else byte by byte
        starts = np.array(start_list, dtype=np.int64)
        position = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(firsts, counts)
        if not (starts % size).any():
            values = np.frombuffer(buffer, dtype=dtype, count=len(buffer) // size)[np.repeat(starts // size, counts)
                                                                                   + position]
        else:
            raw = np.frombuffer(buffer, dtype=np.uint8)
            values = raw[(np.repeat(starts, counts) + position * size)[:,
                                                                       None] + np.arange(size)].reshape(-1).view(dtype)
    return _reduced(_widen(values, name).astype(np.float64), firsts, counts)


def _reduced(x: np.ndarray, firsts: np.ndarray, counts: np.ndarray) -> list[Stats]:
    total = np.add.reduceat(x, firsts)
    if np.isfinite(total).all():  # no NaN or Inf anywhere: no masks needed
        bad = np.zeros(len(counts), dtype=np.int64)
        low, high = np.minimum.reduceat(x, firsts), np.maximum.reduceat(x, firsts)
    else:
        finite = np.isfinite(x)
        bad = np.add.reduceat((~finite).astype(np.int64), firsts)
        total = np.add.reduceat(np.where(finite, x, 0.0), firsts)
        low = np.minimum.reduceat(np.where(finite, x, np.inf), firsts)
        high = np.maximum.reduceat(np.where(finite, x, -np.inf), firsts)
    kept = counts - bad
    mean = total / np.maximum(kept, 1)
    return [Stats(b, lo, hi, m) if n else Stats(b, None, None, None) for b, n, lo, hi, m
            in zip(bad.tolist(), kept.tolist(), low.tolist(), high.tolist(), mean.tolist(), strict=False)]


def _one(values: np.ndarray | None) -> Stats | None:
    """One pass over a large tensor: a float64 sum is finite exactly when every value is (float16/32 sums cannot
    overflow it), so the rules' facts (non-finite count; min and max, whose equality makes a constant) cost one
    reduction, and min / max are read only where a constant can matter: tensors the size of a norm or a bias."""
    if values is None:
        return None
    if np.iscomplexobj(values):
        finite = np.isfinite(values.real) & np.isfinite(values.imag)
        return Stats(int(values.size - finite.sum()), None, None, None)
    flat = values.reshape(-1) if values.flags.c_contiguous else values.ravel()
    total = float(np.add.reduce(flat, dtype=np.float64))
    if flat.dtype.kind in "iub" or np.isfinite(total):  # a NaN or Inf anywhere would make the float64 sum one
        if flat.size > _EXTREMES:
            return Stats(0, None, None, total / flat.size)
        return Stats(0, float(flat.min()), float(flat.max()), total / flat.size)
    return _masked(flat)


def _masked(flat: np.ndarray) -> Stats:
    """Stats of the finite values of an array holding NaN or Inf, in chunks."""
    bad, count, low, high, total = 0, 0, np.inf, -np.inf, 0.0
    for start in range(0, flat.size, _CHUNK):
        x = flat[start:start + _CHUNK].astype(np.float64)
        kept = x[np.isfinite(x)]
        bad += x.size - kept.size
        count += kept.size
        if kept.size:
            low, high = min(low, float(kept.min())), max(high, float(kept.max()))
            total += float(kept.sum())
    if count <= 0:
        return Stats(bad, None, None, None)
    return Stats(bad, float(low), float(high), total / count)
