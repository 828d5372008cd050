"""Plain records of what a checkpoint holds: storages and the tensors viewing them. No torch here."""

from __future__ import annotations

from math import prod
from typing import NamedTuple

ITEMSIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex128": 16, "complex64": 8, "complex32": 4,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint64": 8, "uint32": 4, "uint16": 2, "uint8": 1, "bool": 1,
    "qint8": 1, "quint8": 1, "qint32": 4, "quint4x2": 1, "quint2x4": 1,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1,
    "float4_e2m1fn_x2": 1, "bits8": 1, "bits16": 2, "bits1x8": 1, "bits2x4": 1, "bits4x2": 1,
}

# torch.<X>Storage (and torch.cuda.<X>Storage) -> the dtype of its elements
STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "QInt8Storage": "qint8", "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
    "UntypedStorage": "uint8",
}


def is_floating(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat", "complex"))


class Storage(NamedTuple):
    """One storage, as the pickle names it; its bytes are found by `key` in the file."""

    key: str
    dtype: str
    device: str  # the location tag it was saved with: "cpu", "cuda:0", "meta", ...
    numel: int  # elements the pickle declares
    nbytes: int

    @classmethod
    def of(cls, key: str, dtype: str, device: str, numel: int) -> Storage:
        return cls(key, dtype, device, numel, numel * ITEMSIZE.get(dtype, 1))


class Tensor:
    """A tensor as torch would rebuild it: a view (offset, shape, stride) of a storage.

    `storage` is None for tensors saved without data (the meta device, wrapper subclasses).
    """

    __slots__ = ("storage", "offset", "shape", "stride", "dtype", "kind", "parameter", "quantization", "numel",
                 "qparams")

    def __init__(self, storage: Storage | None, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                 dtype: str, kind: str = "dense", parameter: bool = False, quantization: str | None = None):
        self.storage, self.offset, self.shape, self.stride, self.dtype = storage, offset, shape, stride, dtype
        self.kind = kind  # dense | quantized | meta | sparse | nested | subclass
        self.parameter = parameter
        self.quantization = quantization  # the qscheme of a quantized tensor
        self.qparams: tuple = ()  # its scale and zero point (per tensor), or scales, zero points and axis
        self.numel = prod(shape)

    def __repr__(self) -> str:
        return f"Tensor({self.dtype}{list(self.shape)}, {self.kind}, storage={self.storage and self.storage.key!r})"

    @property
    def nbytes(self) -> int:
        return self.numel * ITEMSIZE.get(self.dtype, 1)

    @property
    def device(self) -> str:
        return self.storage.device if self.storage is not None else "meta"

    @property
    def contiguous(self) -> bool:
        if len(self.shape) == 1:
            return self.shape[0] <= 1 or self.stride[0] == 1
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.stride), strict=False):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True

    @property
    def span(self) -> int:
        """Elements of the storage the view reaches, from its offset."""
        if not self.shape or self.numel == 0:
            return 1 if not self.shape else 0
        return 1 + sum((size - 1) * stride for size, stride in zip(self.shape, self.stride, strict=False))

    @property
    def past_storage(self) -> bool:
        """The view reaches past the end of its storage: torch's `set_` refuses it, so torch.load fails."""
        s = self.storage
        return s is not None and self.numel > 0 and self.offset + self.span > s.numel

    def __setstate__(self, state) -> None:
        """BUILD on a rebuilt tensor (Python attributes saved with it): nothing a check needs."""
