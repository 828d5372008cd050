"""Harmless means inert by construction: each harmless entry judged with what the pickle hands it.

A name on the harmless list (data/harmless_globals.json) is only harmless for the inputs its
source was read for. `numpy.random._pickle.__generator_ctor` calls its second argument, so it is
inert when handed numpy's own `__bit_generator_ctor` and a payload when handed
`torch.storage._load_from_bytes`; Lightning's `AttributeDict` answers attribute lookups from its
items, so the unpickler's lookup of `__setstate__` (BUILD) or `append` (APPEND) calls an item.
This module walks every instance the stub unpickler recorded (reachable from the root or not),
every pickled module's state and the root object itself, and reports each place where a global
reference, or an input the entry's source does not cover, reaches a harmless entry.

A global reference (a class or function the pickle names, not called) is inert only:
- where an entry's spec names it (`numpy.ndarray` as the subtype of `_reconstruct`);
- as an inert type (list, dict, typing.Any: building one from plain data calls nothing);
- in a pickled module's state, for code of torch, torchvision, docTR, numpy or the user's own
  package (a function kept as an attribute, like `F.relu`): nn.Module's __setstate__ stores it;
- at the root or in plain containers, for names torch's weights-only loader allows itself.
Anywhere else a reference is a value a loader could call, and the file is OD101.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable
from typing import Any

from . import allowlist
from .limits import Hostile
from .rebuild import global_name
from .records import Tensor
from .stubs import CALL, INST, NEW, DType, StorageType, StubObject, StubType

# Attribute names the C unpickler looks up on the object it builds (CPython Modules/_pickle.c:
# load_build looks up __setstate__, do_append looks up extend then append).
LOOKED_UP = ("__setstate__", "append", "extend")
_PLAIN = (str, bytes, bytearray, int, float, complex, bool, type(None), DType, Tensor)
_CONTAINERS = (dict, list, tuple, set, frozenset)
# The walk stops beyond this many values. That errs only towards OD101: a reference is excused where the walk
# saw it in a module's state, and every reference it did not reach is unsafe (safety._unsafe_use).
_MAX_NODES = 1_000_000


class InertCheck:
    """Judge every harmless instance and every global reference of one file's pickles."""

    def __init__(self, uses, modules: set[str], user_packages: set[str], weights_only: frozenset[str]):
        self.uses, self.modules, self.user_packages = uses, modules, user_packages
        self.weights_only = weights_only
        self.problems: list[str] = []
        self.in_module_state: set[str] = set()  # references kept as attributes of a pickled module
        self.hooked: set[str] = set()  # references stored in a module's hooks: torch calls them
        self._nodes = 0

    def run(self, root: Any) -> list[str]:
        for name, use in list(self.uses.globals.items()):
            spec = allowlist.harmless_spec(name)
            if spec is not None:
                self._uses(name, use, spec)
                for obj in use.instances:
                    self._instance(name, obj, spec)
            elif name in self.modules:
                for obj in use.instances:
                    self._values(_state_values(obj), f"{name} state", module=True)
        self._values([("", root)], "", module=False, root=True)
        return list(dict.fromkeys(self.problems))

    # --- one harmless instance -----------------------------------------------------------------

    def _uses(self, name: str, use, spec: dict) -> None:
        allowed = {"call": {CALL, INST}, "new": {NEW}, "ref": set()}
        permitted = set().union(*(allowed[u] for u in spec["uses"]))
        for how in sorted(use.uses - permitted):
            verb = {CALL: "called", INST: "called", NEW: "instantiated"}[how]
            self.problems.append(f"{name} ({verb}, which its model does not cover: {spec['source']})")

    def _instance(self, name: str, obj: StubObject, spec: dict) -> None:
        d = obj.__dict__
        args, kwargs = tuple(d.get("args") or ()), dict(d.get("kwargs") or {})
        kinds = _kinds(spec.get("args", []), len(args))
        for i, (value, kind) in enumerate(zip(args, kinds, strict=False)):
            self._argument(name, args, i, value, kind)
        if kwargs:
            if spec.get("kwargs") != "data":
                self.problems.append(f"{name}(**{_short(sorted(kwargs))}) (keyword arguments its model does not take)")
            else:
                self._values(kwargs.items(), f"{name}(**kwargs)", module=False)
        state = d.get("state")
        kind = spec.get("state", "data")
        if state is not None and kind == "none":
            self.problems.append(f"{name}.__setstate__({_short(state)}) (BUILD state the class never receives)")
        elif kind == "torchbind":
            self._torchbind(name, state)
        elif state is not None:
            self._values([("", state)], f"{name}.__setstate__", module=False)
        self._items(name, obj, spec)
        appended = d.get("appended") or []
        if appended:
            if spec.get("items") == "content":
                self.problems.append(f"{name}.append (APPEND looks `append` up in the config's content, "
                                     "which the pickle wrote: a value of the file would be called)")
            elif spec.get("appends") != "data" and spec.get("items") != "fallthrough":
                self.problems.append(f"{name}.append({_short(appended[0])}) (APPEND on a class that never receives "
                                     "one)")
            self._values(enumerate(appended), f"{name}.append", module=False)

    def _torchbind(self, name: str, state: Any) -> None:
        """A ScriptObject's state names the TorchBind class whose __setstate__ runs: only quantized packed
        parameters, which torch's own C++ rebuilds from the tensors handed over, are modelled."""
        classes = allowlist.torchbind_classes()
        if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], str)):
            self.problems.append(f"{name}.__setstate__({_short(state)}) (a script object whose class is not named)")
        elif state[1] not in classes:
            self.problems.append(f"{name} of class {state[1]} (a TorchBind class whose __setstate__ runs code "
                                 "this model does not cover; only quantized packed parameters are)")
        else:
            self._values([("", state[0])], f"{name}<{state[1].rsplit('.', 1)[-1]}>", module=False)

    def _argument(self, name: str, args: tuple, i: int, value: Any, kind: str) -> None:
        where = _call(name, args, i)
        if kind == "data":
            self._values([("", value)], where, module=False)
        elif kind == "str":
            if not isinstance(value, str):
                self.problems.append(f"{where} (its model takes a string here)")
        elif kind == "type":
            if value is not None and not self._inert_type(value):
                self.problems.append(f"{where} (only an inert type such as list or dict is safe here)")
        elif kind == "dtype":
            if not (isinstance(value, StubObject) and (value.global_name == "numpy.dtype"
                                                        or value.global_name.startswith("numpy.dtypes."))):
                self.problems.append(f"{where} (its model takes a numpy dtype here)")
        elif kind == "bitgen":
            if not _bit_generator(value):
                self.problems.append(f"{where} (only one of numpy's bit generators is safe here: "
                                     f"{', '.join(allowlist.bit_generators())})")
        elif kind.startswith("ref:"):
            names = kind[4:].split("|")
            if _reference(value) not in names:
                self.problems.append(f"{where} (only {' or '.join(names)} is safe here)")

    def _items(self, name: str, obj: StubObject, spec: dict) -> None:
        if not len(obj):
            return
        mode = spec.get("items")
        if mode is None:
            self.problems.append(f"{name}[{_short(next(iter(obj)))}] (items on a class that holds none)")
            return
        for key, value in obj.items():
            if mode == "fallthrough" and key in LOOKED_UP and _reference(value) is not None:
                self.problems.append(f"{name}.{key} -> <{_reference(value)}> (the unpickler looks `{key}` up "
                                     "and the class answers from its items: it would be called)")
                continue
            self._values([(key, value)], f"{name}[...]", module=False)

    # --- values ---------------------------------------------------------------------------------

    def _values(self, items: Iterable[tuple[Any, Any]], where: str, *, module: bool, root: bool = False) -> None:
        """Walk values (not into stub instances: each is judged on its own) and judge every reference."""
        stack = [(f"{where}.{k}" if where and k != "" else (where or str(k)), v, 0) for k, v in items]
        seen: set[int] = set()
        nesting = self.uses.limits.nesting
        while stack:
            path, value, depth = stack.pop()
            if nesting is not None and depth > nesting:
                raise Hostile("nesting", depth, nesting, f" at {path[:60]}")
            self._nodes += 1
            if self._nodes > _MAX_NODES:
                return
            if isinstance(value, StubObject):
                if module and _HOOKS.search(path):
                    self._hooks(path, value)
                continue
            if isinstance(value, _PLAIN):
                continue
            ref = _reference(value)
            if ref is not None:
                self._reference_at(ref, path, module=module, root=root)
                continue
            if isinstance(value, _CONTAINERS) and id(value) not in seen:
                seen.add(id(value))
                children = value.items() if isinstance(value, dict) else enumerate(value)
                for key, child in children:  # plain keys and values need no path: most of a state_dict
                    if isinstance(value, dict) and not isinstance(key, _PLAIN):
                        stack.append((f"{path}[{_short(key)}]", key, depth + 1))
                    if not isinstance(child, _PLAIN):
                        stack.append((f"{path}.{key}" if path else str(key), child, depth + 1))

    def _hooks(self, path: str, hooks: StubObject) -> None:
        """A module's hook dict (`_forward_hooks`, ...): torch calls every value it holds, on every forward."""
        for key, value in hooks.items():
            ref = _reference(value)
            what = ref or (value.global_name if isinstance(value, StubObject) else None)
            if what is not None:
                self.hooked.add(what)
                self.problems.append(f"{what} (stored as a module hook in {path}[{_short(key)}]: torch calls it "
                                     "on every forward)")

    def _reference_at(self, ref: str, path: str, *, module: bool, root: bool) -> None:
        if module and _IN_HOOKS.search(path):
            self.hooked.add(ref)
            self.problems.append(f"{ref} (stored as a module hook in {path}: torch calls it on every forward)")
            return
        if self._inert_type_name(ref):
            return
        top = ref.split(".", 1)[0]
        if module and (top in allowlist.SHIPPED_PACKAGES or top in self.user_packages):
            self.in_module_state.add(ref)
            return
        if root and ref in self.weights_only:
            return
        place = f"in {path}" if path else "as the file's object"
        self.problems.append(f"{ref} (referenced {place}: a value a loader could call)")

    def _inert_type(self, value: Any) -> bool:
        ref = _reference(value)
        return ref is not None and self._inert_type_name(ref)

    @staticmethod
    def _inert_type_name(ref: str) -> bool:
        spec = allowlist.harmless_spec(ref)
        return (spec is not None and spec.get("role") == "type") or ref in _INERT_REAL_TYPES


_HOOKS = re.compile(r"(^|\.)_[a-z_]*hooks$")  # the attribute names of nn.Module's hook dicts
_IN_HOOKS = re.compile(r"(^|\.)_[a-z_]*hooks([.\[]|$)")  # a value inside one
_INERT_REAL_TYPES = {"collections.OrderedDict", "collections.Counter", "builtins.set", "builtins.frozenset",
                     "builtins.slice"}


def _reference(value: Any) -> str | None:
    """The global a value names when it is a class or function itself (a reference), else None."""
    if isinstance(value, StubType):
        return value._use.name
    if isinstance(value, StorageType):
        return value.name
    if isinstance(value, (StubObject, DType, Tensor)) or not callable(value):
        return None
    return global_name(value)


def _bit_generator(value: Any) -> bool:
    names = allowlist.bit_generators()
    if isinstance(value, str):
        return value in names
    ref = _reference(value)
    if ref is not None:
        return ref.rsplit(".", 1)[-1] in names and ref.startswith("numpy.random.")
    if isinstance(value, StubObject):
        g = value.global_name
        return g == "numpy.random._pickle.__bit_generator_ctor" or (
            g.startswith("numpy.random.") and g.rsplit(".", 1)[-1] in names)
    return False


def _kinds(spec: list[str], n: int) -> list[str]:
    """One kind per argument: `*kind` repeats; arguments past the spec are plain data."""
    kinds: list[str] = []
    for kind in spec:
        if kind.startswith("*"):
            return kinds + [kind[1:]] * (n - len(kinds))
        kinds.append(kind)
    return (kinds + ["data"] * n)[:n]


def _state_values(obj: StubObject) -> list[tuple[Any, Any]]:
    d = obj.__dict__
    return [("", d.get("state")), ("args", tuple(d.get("args") or ())), ("", dict(obj))]


def _call(name: str, args: tuple, i: int) -> str:
    shown = [f"<{_reference(a)}>" if _reference(a) else _short(a) for a in args]
    return f"{name}({', '.join(shown)})" if i < len(args) else name


def _short(value: Any) -> str:
    if isinstance(value, StubObject):
        return f"<{value.global_name} object>"
    return _REPR.repr(value)


_REPR = reprlib.Repr()  # bounded, and safe on containers nested a million levels deep
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlevel = 3

