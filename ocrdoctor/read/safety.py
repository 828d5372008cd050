"""Is a file safe to load? An allowlist and the way each global is used, never a deny-list.

Every global the file's pickles name is one of:
- on torch's weights-only allowlist: fine;
- harmless data training scripts save (numpy values, Namespace, paths, Lightning and omegaconf
  containers), judged with what the pickle hands it (read/inert.py): inert, torch's default
  `torch.load` still refuses it (OD120); handed a global or an input its model does not cover,
  unsafe (OD101);
- a module class rebuilt as torch.save(model) rebuilds one (NEWOBJ): a class ocrdoctor models
  (torch / torchvision / docTR, shipped as data with their source: data/module_classes.json) or
  one the team declared trusted (`trusted-globals`, `--trust`): the file is a pickled model (OD102).
  A class is never a module because of the state the pickle gives it: that state is the attacker's
  to write. Any other class with a module's state is OD101, named with `--trust` as the way to
  accept it; so is a `copyreg._reconstructor` whose base is not `object` (it runs the base's
  `__init__`), and a function stored where torch calls it (a module's hooks);
- anything else, called (REDUCE, INST, OBJ), instantiated or merely referenced: unsafe (OD101).
  A reference is inert only as an attribute in a pickled module's state (a function the model
  keeps, like F.relu): anywhere else an allowed constructor could be handed it and call it.
  That covers every function outside the allowlist (`torch.*` ones too), dotted names that reach
  through a module (`torch` + `os.system`), attribute-chain helpers (getattr, attrgetter,
  pkgutil.resolve_name, ...), Python 2 names mapped as CPython maps them, and a name the pickle
  computes itself (any call that computes it is already outside the allowlist).
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import allowlist
from .inert import InertCheck
from .stubs import CALL, INST, NEW, StubObject, Uses

_MACHINERY = {"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "builtins.object"}
_TORCHSCRIPT = ("__torch__.", "torch.jit._pickle.", "torch.jit._script", "torch.classes.")


@dataclass(frozen=True)
class Verdict:
    unsafe: tuple[str, ...] = ()  # "posix.system (called)", ...
    modules: tuple[str, ...] = ()  # module classes the file rebuilds (torch.save(model)), modelled or trusted
    user_modules: tuple[str, ...] = ()  # of those, the ones the team trusts (not shipped by torch, torchvision, docTR)
    untrusted_modules: tuple[str, ...] = ()  # classes given a module's state that nothing models or trusts (OD101)
    outside_weights_only: tuple[str, ...] = ()  # every name torch's weights-only loader refuses
    not_by_name: tuple[str, ...] = ()  # what torch's weights-only loader refuses whatever names are allowed

    @property
    def pickled_module(self) -> bool:
        return bool(self.modules)


def judge(uses: Uses, fmt: str, root: Any = None, trusted: Sequence[str] = ()) -> Verdict:
    """The verdict on one file's pickles; `trusted` are fnmatch patterns of `module.qualname` the team declared
    trusted (`trusted-globals`), whose classes may be rebuilt as modules."""
    weights_only = allowlist.torch_weights_only()
    names = sorted(n for n in uses.globals if n not in weights_only)
    if fmt == "torchscript":
        names = [n for n in names if not n.startswith(_TORCHSCRIPT)]
    modules = {n for n in names if _is_module_class(uses, n, trusted)}
    untrusted = {n for n in names if n not in modules and _looks_like_module(uses, n)}
    user_modules = {n for n in modules if n not in allowlist.module_classes()}
    user_packages = {n.split(".", 1)[0] for n in user_modules}
    inert = InertCheck(uses, modules, user_packages, weights_only)
    unsafe = inert.run(root)
    for name in names:
        if name in modules or name in _MACHINERY or allowlist.is_harmless(name) or name in inert.hooked:
            continue  # harmless names are judged by their model, in the InertCheck above
        label = _untrusted(name) if name in untrusted else _unsafe_use(uses, name, inert.in_module_state)
        if label:
            unsafe.append(f"{name} ({label})")
    unsafe += _bad_reconstructions(uses, modules)
    refused = sorted(set(names) | _numpy_dtype_classes(uses) | _built_classes(uses))
    unsafe = list(dict.fromkeys(unsafe))
    return Verdict(tuple(unsafe), tuple(sorted(modules)), tuple(sorted(user_modules)), tuple(sorted(untrusted)),
                   tuple(refused), _not_by_name(uses))


def is_trusted(name: str, trusted: Sequence[str]) -> bool:
    """Whether `module.qualname` matches a pattern the team declared trusted (`mypkg.models.*`)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in trusted)


def _untrusted(name: str) -> str:
    package = name.split(".", 1)[0]
    if package in sys.stdlib_module_names:  # no standard-library class is a model: never offered as trusted
        return ("a standard-library class rebuilt with an nn.Module's state: loading runs its code, and no "
                "model is one")
    return (f"rebuilt with an nn.Module's state, but no list ocrdoctor ships models this class and it is not "
            f"trusted: loading imports and runs its code; if it is your own, trust it with --trust '{package}.*' "
            "(trusted-globals in [tool.ocrdoctor])")


def merged(verdicts: list[Verdict]) -> Verdict:
    """One verdict for several pickles read as one checkpoint (the shards of an index)."""
    if len(verdicts) == 1:
        return verdicts[0]

    def union(field: str) -> tuple[str, ...]:
        return tuple(sorted({name for v in verdicts for name in getattr(v, field)}))

    unsafe = tuple(dict.fromkeys(name for v in verdicts for name in v.unsafe))
    return Verdict(unsafe, union("modules"), union("user_modules"), union("untrusted_modules"),
                   union("outside_weights_only"), union("not_by_name"))


def _not_by_name(uses: Uses) -> tuple[str, ...]:
    """What no `safe_globals` list makes loadable: torch's weights-only unpickler (torch/_weights_only_unpickler.py,
    `_check_set_item_target`, `_check_append_target`) sets items only on an exact dict, OrderedDict or Counter and
    appends only to a list, so a defaultdict, AttributeDict or deque holding anything cannot be rebuilt."""
    found = []
    for name, use in uses.globals.items():
        if allowlist.is_harmless(name) and any(len(obj) or obj.__dict__.get("appended") for obj in use.instances):
            found.append(name.rsplit(".", 1)[-1])
    return tuple(sorted(set(found)))


# numpy dtype codes -> the class torch's weights-only loader must also allow to BUILD the dtype
_DTYPE_CLASSES = {
    "b1": "BoolDType", "i1": "Int8DType", "u1": "UInt8DType", "i2": "Int16DType", "u2": "UInt16DType",
    "i4": "Int32DType", "u4": "UInt32DType", "i8": "Int64DType", "u8": "UInt64DType", "f2": "Float16DType",
    "f4": "Float32DType", "f8": "Float64DType", "c8": "Complex64DType", "c16": "Complex128DType",
    "O8": "ObjectDType", "O4": "ObjectDType", "M8": "DateTime64DType", "m8": "TimeDelta64DType",
}


def _numpy_dtype_classes(uses: Uses) -> set[str]:
    use = uses.globals.get("numpy.dtype")
    found = set()
    for obj in use.instances if use else ():
        code = obj.__dict__.get("args", ())[:1]
        if code and isinstance(code[0], str):
            kind = code[0][:1] + code[0][1:].lstrip("<>=|")
            name = _DTYPE_CLASSES.get(kind) or _DTYPE_CLASSES.get(kind[:1] + kind[1:].split("[")[0])
            if name is None and kind[:1] in "USV":
                name = {"U": "StrDType", "S": "BytesDType", "V": "VoidDType"}[kind[:1]]
            if name:
                found.add(f"numpy.dtypes.{name}")
    return found


def _built_classes(uses: Uses) -> set[str]:
    """Classes a harmless ctor returns and BUILD then sets (numpy's RandomState): torch's weights-only loader
    refuses BUILD on a type it was not given, though the pickle never names it."""
    found = set()
    for name, use in uses.globals.items():
        spec = allowlist.harmless_spec(name)
        builds = spec.get("builds") if spec else None
        for obj in use.instances if builds else ():
            if obj.__dict__.get("state") is None:
                continue
            if builds != "bitgen":
                found.add(builds)
            elif obj.__dict__.get("args"):
                found.update(allowlist.bit_generator_class(obj.__dict__["args"][0]))
    return found


def _is_module_class(uses: Uses, name: str, trusted: Sequence[str]) -> bool:
    """A class rebuilt only as torch rebuilds modules (NEWOBJ) that ocrdoctor models or the team trusts."""
    use = uses.globals[name]
    if not use.uses or not use.uses <= {NEW}:
        return False
    return name in allowlist.module_classes() or is_trusted(name, trusted)


def _looks_like_module(uses: Uses, name: str) -> bool:
    """Some instance was given the state torch.save(model) gives an nn.Module: a claim the pickle makes."""
    return any(_module_state(obj) for obj in uses.globals[name].instances)


def _module_state(obj) -> bool:
    """The state torch.save(model) gives an nn.Module: its __dict__ with the module tree."""
    state = obj.__dict__.get("state") if isinstance(obj, StubObject) else None
    return isinstance(state, dict) and "_modules" in state and ("_parameters" in state or "_buffers" in state)


def _unsafe_use(uses: Uses, name: str, in_module_state: set[str]) -> str | None:
    used = uses.globals[name].uses
    if name in uses.dotted:
        return "reached through attributes"
    if used & {CALL, INST}:
        if name in allowlist.enum_classes() and used == {CALL}:
            return None  # an enum member looked up by value (torchvision's InterpolationMode)
        return "called"
    if NEW in used:
        return "instantiated"
    if name in in_module_state:
        return None  # a function a pickled model keeps as an attribute (F.relu): nothing calls it at load time
    return "referenced: an allowed constructor could be handed it and call it"


def _bad_reconstructions(uses: Uses, modules: set[str]) -> list[str]:
    """copyreg._reconstructor(cls, base, state) runs `base.__new__(cls, state)` and, for a base other than
    `object`, `base.__init__(obj, state)`: only `object` as the base of a modelled class is inert."""
    bad = []
    plain = ("collections.OrderedDict", "builtins.set")
    for cls, base in uses.reconstructed:
        if base != "builtins.object":
            bad.append(f"copyreg._reconstructor({cls}, {base}) (runs {base}.__init__ on the new object)")
        elif cls not in (*modules, *plain):
            bad.append(f"copyreg._reconstructor({cls}, {base}) (called)")
    return bad
