"""The stubs the unpickler answers globals with: each records how the pickle uses its global.

Every name that is not a tensor or storage rebuild becomes a stub class: calling it records CALL,
NEWOBJ / copyreg record NEW, INST / OBJ record INST; its instances keep their arguments, state,
items and appended values, so a pickled nn.Module's tree can be read afterwards. `Uses` gathers
them for one file, with the counters the limits check.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .limits import DEFAULT, Limits
from .records import Storage, Tensor

CALL, NEW, INST = "call", "new", "inst"


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
    def _make(cls, how: str, args: tuple, kwargs: dict) -> StubObject:
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
