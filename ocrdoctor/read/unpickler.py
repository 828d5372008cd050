"""The stub unpickler: CPython's own C unpickler, with every global it asks for answered by a stub.

torch.load runs this same C unpickler (pure-Python readers differ on frames and memo), so
opcodes are read exactly as a loader reads them. `find_class` never imports anything:
- torch's tensor and storage rebuild functions become functions that return plain records;
- plain containers (OrderedDict, set, ...) become the containers themselves;
- every other name becomes a stub class that records how the pickle uses it: called (REDUCE,
  INST/OBJ with arguments), instantiated (NEWOBJ, copyreg._reconstructor, INST/OBJ without
  arguments) or only referenced. The stubs remember their arguments and state, so a pickled
  nn.Module's tree (`_parameters`, `_buffers`, `_modules`) can be read afterwards.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from operator import index
from typing import Any, Callable, NamedTuple

from .limits import DEFAULT, Limits
from .records import STORAGE_DTYPES, Storage, Tensor

CALL, NEW, INST = "call", "new", "inst"
_SAFE_ENCODINGS = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "utf-8", "utf8", "ascii"}


@dataclass
class GlobalUse:
    """One global the pickle names, and how it is used."""

    name: str
    uses: set[str] = field(default_factory=set)
    instances: list[Any] = field(default_factory=list)


class Uses:
    """Every global named by the pickles of one file, and the class-rebuild calls between them."""

    def __init__(self, limits: Limits = DEFAULT) -> None:
        self.globals: dict[str, GlobalUse] = {}
        self.reconstructed: list[tuple[str, str]] = []  # (class, base) of copyreg._reconstructor calls
        self.dotted: set[str] = set()  # names whose qualname walks attributes (`torch` + `os.system`)
        self._stubs: dict[str, type] = {}
        self.limits = limits
        self.records = 0  # tensor records and stub instances built so far
        self.materialised = 0  # bytes the pickles asked to be built
        self.views: dict[str, int] = {}  # storage key -> tensors viewing it

    def use(self, name: str) -> GlobalUse:
        found = self.globals.get(name)
        if found is None:
            self.limits.check("globals", len(self.globals) + 1)
            found = self.globals[name] = GlobalUse(name)
        return found

    def record(self) -> None:
        self.records += 1
        if self.records & 0xFFF == 0:  # checked every 4,096 records: counting costs nothing per record
            self.limits.check("records", self.records)

    def tensor(self, tensor: Tensor) -> Tensor:
        """Count a rebuilt tensor against the limits: records, tensors per storage, elements claimed."""
        self.record()
        if tensor.storage is not None:
            key = tensor.storage.key
            n = self.views[key] = self.views.get(key, 0) + 1
            if n > 64:
                self.limits.check("shared", n)
        if tensor.numel > 1 << 30:
            self.limits.check("elements", tensor.numel)
        return tensor

    def build(self, nbytes: int) -> None:
        """Bytes a pickle asks the reader to build (bytearray(n), an encoded string)."""
        self.materialised += nbytes
        self.limits.check("materialised", self.materialised)

    def stub(self, name: str) -> type:
        cls = self._stubs.get(name)
        if cls is None:
            cls = self._stubs[name] = StubType(name.rsplit(".", 1)[-1], (StubObject,),
                                               {"_use": self.use(name), "_uses": self})
        return cls


class StubType(type):
    """The metaclass of stubs: a call records CALL; an INST/OBJ lookup of __getinitargs__ marks INST."""

    def __call__(cls, *args, **kwargs):
        cls._use.uses.add(CALL)
        return cls._make(CALL, args, kwargs)

    def __getattr__(cls, name: str):
        if name == "__getinitargs__":  # only INST / OBJ look this up, right before cls.__new__(cls)
            type.__setattr__(cls, "_inst_pending", True)
        raise AttributeError(name)


class StubObject(dict):
    """What a stub class builds: a dict (so SETITEMS work) that keeps its arguments and state."""

    _use: GlobalUse
    _uses: Uses
    _inst_pending = False

    def __new__(cls, *args, **kwargs):
        how = INST if cls.__dict__.get("_inst_pending") else NEW
        type.__setattr__(cls, "_inst_pending", False)
        cls._use.uses.add(how)
        return cls._make(how, args, kwargs)

    @classmethod
    def _make(cls, how: str, args: tuple, kwargs: dict) -> "StubObject":
        cls._uses.record()
        obj = dict.__new__(cls)
        obj.__dict__.update(how=how, args=args, kwargs=kwargs, state=None, appended=[])
        cls._use.instances.append(obj)
        return obj

    __hash__ = object.__hash__

    def __eq__(self, other) -> bool:
        return self is other

    def __setstate__(self, state) -> None:
        self.__dict__["state"] = state

    def append(self, item) -> None:
        self.__dict__["appended"].append(item)

    def extend(self, items) -> None:
        self.__dict__["appended"].extend(items)

    @property
    def global_name(self) -> str:
        return type(self)._use.name

    def __repr__(self) -> str:
        return f"<{self.global_name} {self.__dict__['how']}>"


class DType(str):
    """A torch dtype named by the pickle (`torch.float32` -> "float32")."""


class StorageType:
    """A storage class named by the pickle (`torch.FloatStorage`): its element dtype."""

    def __init__(self, name: str, dtype: str):
        self.name, self.dtype = name, dtype

    def __call__(self, *args):
        raise pickle.UnpicklingError(f"the pickle calls {self.name}, which torch never does")


class StorageRef(NamedTuple):
    """What a persistent id resolves to: a storage, or (legacy files) an element range of one."""

    storage: Storage
    offset: int = 0


def read_pickle(stream: io.IOBase, uses: Uses, persistent_load: Callable[[Any], Any] | None) -> Any:
    """Unpickle one pickle from `stream` with stubs; raises what the C unpickler raises."""
    reader = _StubUnpickler(stream, uses, persistent_load)
    return reader.load()


class _StubUnpickler(pickle.Unpickler):
    def __init__(self, stream, uses: Uses, persistent_load):
        super().__init__(stream, encoding="latin1")
        self._uses = uses
        self._persistent = persistent_load

    def find_class(self, module: str, name: str):
        full = modern_name(module, name)
        self._uses.use(full)
        if "." in name:
            self._uses.dotted.add(full)
        special = _SPECIAL.get(full)
        if special is not None:
            if isinstance(special, _Bound):
                return special(self._uses)
            return _counted(special, self._uses) if full in _TENSORS else special
        if full in _DTYPES:
            return DType(full[len("torch."):])
        short = full.rsplit(".", 1)[-1]
        if full.startswith(("torch.", "torch.cuda.")) and short in STORAGE_DTYPES and full.count(".") <= 2:
            return StorageType(full, STORAGE_DTYPES[short])
        return self._uses.stub(full)

    def persistent_load(self, pid):
        if self._persistent is None:
            raise pickle.UnpicklingError("the pickle refers to data outside it (a persistent id), which a plain pickle cannot")
        return self._persistent(pid)


def modern_name(module: str, name: str) -> str:
    """Python 2 names mapped as the unpickler maps them (`__builtin__.eval` -> `builtins.eval`)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


# --- what a few globals become --------------------------------------------------------------

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
    return rebuild_tensor(storage, storage_offset, size, stride, kind="quantized", quantization=name.rsplit(".", 1)[-1])


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
        size = value if isinstance(value, int) else len(value) if isinstance(value, (bytes, bytearray, str, list)) else 0
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
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_qtensor", "_rebuild_meta_tensor_no_storage",
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
