"""What a few globals become: torch's tensor and storage rebuilds as records, plain containers as
themselves, class rebuilds (copyreg, NEWOBJ) recorded on the stubs. Nothing here imports a module the
pickle names."""

from __future__ import annotations

import pickle
from collections import Counter, OrderedDict
from collections.abc import Callable
from operator import index
from typing import Any

from .records import Tensor
from .stubs import CALL, NEW, StorageRef, StorageType, StubType, Uses

_SAFE_ENCODINGS = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "utf-8", "utf8", "ascii"}


class _Bound:
    """A special that needs the file's Uses (to record class rebuilds)."""

    def __init__(self, make: Callable[[Uses], Callable]):
        self.make = make

    def __call__(self, uses: Uses) -> Callable:
        return self.make(uses)


def _counted(build: Callable, uses: Uses) -> Callable:
    """A tensor rebuild function whose tensors count against the file's limits."""
    def counted(*args, **kwargs):
        made = build(*args, **kwargs)
        return uses.tensor(made) if made.__class__ is Tensor else made

    return counted


def _new_instance(cls, args=(), kwargs=None):
    if isinstance(cls, StubType):
        return cls.__new__(cls, *args, **(kwargs or {}))
    if cls in (OrderedDict, dict, set, list):
        return cls()
    raise pickle.UnpicklingError(f"cannot rebuild an instance of {cls!r}")


def _reconstructor(uses: Uses):
    def reconstruct(cls, base, state=None):
        if isinstance(base, StubType):
            base._use.uses.add(NEW)
        uses.reconstructed.append((global_name(cls), global_name(base)))
        return _new_instance(cls)

    return reconstruct


def global_name(obj) -> str:
    """The dotted name a stub class, storage type or special stands for."""
    if isinstance(obj, StubType):
        return obj._use.name
    if isinstance(obj, StorageType):
        return obj.name
    for name, special in _SPECIAL.items():
        if special is obj:
            return name
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return f"{module}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def _newobj(uses: Uses):
    def newobj(cls, *args):
        return _new_instance(cls, args)

    return newobj


def _newobj_ex(uses: Uses):
    def newobj_ex(cls, args, kwargs):
        return _new_instance(cls, tuple(args), dict(kwargs))

    return newobj_ex


def _ints(value, what: str) -> tuple[int, ...]:
    try:
        sizes = (index(value),) if value.__class__ is int else tuple(map(index, value))
    except TypeError:
        raise pickle.UnpicklingError(f"a tensor's {what} is not a tuple of sizes") from None
    if sizes and min(sizes) < 0:
        raise pickle.UnpicklingError(f"a tensor's {what} is negative")
    return sizes


def rebuild_tensor(storage, storage_offset, size, stride, *_rest, kind: str = "dense", dtype: str | None = None,
                   quantization: str | None = None) -> Tensor:
    if storage.__class__ is not StorageRef:
        raise pickle.UnpicklingError("a tensor is rebuilt from something that is not a storage")
    try:
        shape = tuple(map(index, size)) if size.__class__ is tuple else _ints(size, "size")
        strides = tuple(map(index, stride)) if stride.__class__ is tuple else _ints(stride, "stride")
    except TypeError:
        raise pickle.UnpicklingError("a tensor's size or stride is not a tuple of sizes") from None
    if len(shape) != len(strides) or storage_offset.__class__ is not int or storage_offset < 0 \
            or (shape and (min(shape) < 0 or min(strides) < 0)):
        raise pickle.UnpicklingError("a tensor's size, stride and offset do not agree")
    base = storage.storage
    return Tensor(base, storage.offset + storage_offset, shape, strides, dtype or base.dtype, kind, False, quantization)


def _rebuild_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    return rebuild_tensor(storage, storage_offset, size, stride, dtype=str(dtype))


def _rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params, *rest):
    scheme = quantizer_params[0] if isinstance(quantizer_params, tuple) and quantizer_params else None
    name = getattr(scheme, "global_name", None) or str(scheme)
    made = rebuild_tensor(storage, storage_offset, size, stride, kind="quantized", quantization=name.rsplit(".", 1)[-1])
    made.qparams = tuple(quantizer_params[1:]) if isinstance(quantizer_params, tuple) else ()
    return made


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if isinstance(data, Tensor):
        data.parameter = True
    return data


def _rebuild_meta(dtype, size, stride, requires_grad=False):
    return Tensor(None, 0, _ints(size, "size"), _ints(stride, "stride"), str(dtype), kind="meta")


def _rebuild_wrapper_subclass(cls, dtype, size, stride, storage_offset=0, *rest):
    if isinstance(cls, StubType):
        cls._use.uses.add(NEW)
    return Tensor(None, 0, _ints(size, "size"), _ints(stride, "stride"), str(dtype), kind="subclass")


def _rebuild_sparse(layout, data):
    return Tensor(None, 0, (), (), "unknown", kind="sparse")


def _rebuild_nested(buffer, sizes, strides, storage_offsets):
    dtype = buffer.dtype if isinstance(buffer, Tensor) else "unknown"
    storage = buffer.storage if isinstance(buffer, Tensor) else None
    return Tensor(storage, 0, (buffer.numel,) if isinstance(buffer, Tensor) else (), (1,), dtype, kind="nested")


def _rebuild_on_device(data, dtype, device, requires_grad=False):
    if isinstance(data, Tensor) and data.storage is not None:
        data.storage = data.storage._replace(device=str(device))
        return data
    return Tensor(None, 0, (), (), str(dtype), kind="subclass")


def _rebuild_from_type_v2(uses: Uses):
    def rebuild(func, new_type, args, state):
        if isinstance(new_type, StubType):
            new_type._use.uses.add(NEW)
        if not callable(func):
            raise pickle.UnpicklingError("_rebuild_from_type_v2 is given something that is not a function")
        return func(*args)

    return rebuild


def _device(*args) -> str:
    if len(args) == 2 and isinstance(args[1], int):
        return f"{args[0]}:{args[1]}"
    return str(args[0]) if args else "cpu"


def _encode(uses: Uses):
    def encode(obj, encoding="utf-8", errors="strict"):
        if not isinstance(obj, str) or str(encoding).lower() not in _SAFE_ENCODINGS:
            uses.use(f"_codecs.encode(encoding={encoding!r})").uses.add(CALL)
            return b""
        uses.build(len(obj))
        return obj.encode(encoding, errors if errors in ("strict", "replace", "ignore") else "strict")

    return encode


def _bytearray(uses: Uses):
    def build(*args):
        if not args:
            return bytearray()
        value = args[0]
        size = value if isinstance(value, int) else len(value) if isinstance(value, (bytes, bytearray, str,
                                                                                     list)) else 0
        uses.build(max(size, 0))
        if isinstance(value, (bytes, bytearray)):
            return bytearray(value)
        if isinstance(value, str) and len(args) > 1 and str(args[1]).lower() in _SAFE_ENCODINGS:
            return bytearray(value, args[1])
        if isinstance(value, int) and value >= 0:
            return bytearray(value)
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            return bytearray(value)
        raise pickle.UnpicklingError("bytearray() is called with arguments torch never saves")

    return build


def _complex(*args):
    if all(isinstance(a, (int, float, str)) for a in args):
        return complex(*args)
    raise pickle.UnpicklingError("complex() is called with arguments that are not numbers")


_DTYPES = {f"torch.{d}" for d in (
    "float64 float32 float16 bfloat16 complex128 complex64 complex32 bcomplex32 int64 int32 int16 int8 uint64 uint32 "
    "uint16 uint8 bool qint8 quint8 qint32 quint4x2 quint2x4 float8_e4m3fn float8_e5m2 float8_e4m3fnuz "
    "float8_e5m2fnuz float8_e8m0fnu float4_e2m1fn_x2 bits8 bits16 bits1x8 bits2x4 bits4x2 int1 int2 int3 int4 "
    "int5 int6 int7 uint1 uint2 uint3 uint4 uint5 uint6 uint7 per_tensor_affine per_channel_affine "
    "per_tensor_symmetric per_channel_symmetric per_channel_affine_float_qparams").split()}

# the specials that return a tensor record: each one counts against the limits
_TENSORS = {f"torch._utils.{n}" for n in (
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_qtensor",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass", "_rebuild_sparse_tensor", "_rebuild_nested_tensor")}

_SPECIAL: dict[str, Any] = {
    "collections.OrderedDict": OrderedDict,
    "collections.Counter": Counter,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "builtins.slice": slice,
    "builtins.complex": _complex,
    "builtins.bytearray": _Bound(_bytearray),
    "_codecs.encode": _Bound(_encode),
    "copyreg._reconstructor": _Bound(_reconstructor),
    "copyreg.__newobj__": _Bound(_newobj),
    "copyreg.__newobj_ex__": _Bound(_newobj_ex),
    "torch.Size": lambda *args: tuple(*args),
    "torch.device": _device,
    "torch.serialization._get_layout": lambda name: str(name),
    "torch._utils._rebuild_tensor": rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": rebuild_tensor,
    "torch._utils._rebuild_tensor_v3": _rebuild_v3,
    "torch._utils._rebuild_qtensor": _rebuild_qtensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._utils._rebuild_meta_tensor_no_storage": _rebuild_meta,
    "torch._utils._rebuild_wrapper_subclass": _rebuild_wrapper_subclass,
    "torch._utils._rebuild_sparse_tensor": _rebuild_sparse,
    "torch._utils._rebuild_nested_tensor": _rebuild_nested,
    "torch._utils._rebuild_device_tensor_from_cpu_tensor": _rebuild_on_device,
    "torch._utils._rebuild_device_tensor_from_numpy": _rebuild_on_device,
    "torch._tensor._rebuild_from_type_v2": _Bound(_rebuild_from_type_v2),
    "torch.nn.parameter.Parameter": _rebuild_parameter,
}
