"""Read what a pickle would import, without running it or importing anything it names.

torch's `get_unsafe_globals_in_checkpoint` reads only zip checkpoints and only the GLOBAL
opcode; legacy torch files and plain pickles, and the STACK_GLOBAL / INST opcodes, need
this walk. `pickletools.genops` decodes opcodes and never executes them.
"""

from __future__ import annotations

import _compat_pickle
import pickletools
from dataclasses import dataclass
from typing import BinaryIO

# The first pickle of a legacy (pre-1.6) torch.save file is this number.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

DYNAMIC = "<computed at load time>"

_STRING_OPS = {
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE",
    "BINUNICODE", "BINUNICODE8",
}
_MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
_INTS = {"LONG1", "LONG4", "BININT", "BININT1", "BININT2", "INT", "LONG"}
_MARK = object()

# Marks of nn.Module.__dict__ in a pickle: torch.save(model) instead of a state_dict.
_MODULE_MARKS = {"_modules", "_parameters", "_buffers"}

# Modules whose callables can run code or touch the system when a pickle calls them.
_DANGEROUS_MODULES = {
    "os", "posix", "nt", "subprocess", "sys", "builtins", "__builtin__", "shutil", "socket",
    "importlib", "runpy", "pty", "code", "codeop", "ctypes", "pickle", "_pickle", "marshal",
    "webbrowser", "operator", "functools", "types", "timeit", "pdb", "bdb", "asyncio",
    "multiprocessing", "threading", "urllib", "http", "requests", "io", "_io", "tempfile",
    "glob", "pathlib", "platform", "signal", "pydoc", "trace", "cProfile", "profile", "_posixsubprocess",
}
# Plain containers an nn.Module pickle legitimately builds.
_BENIGN = {"builtins.set", "builtins.frozenset", "builtins.slice", "builtins.object", "builtins.complex"}


@dataclass(frozen=True)
class PickleScan:
    globals: frozenset[str]
    pickled_module: bool
    magic: int | None  # the value when the whole pickle is one integer (legacy torch header)


def scan_pickle(stream: BinaryIO) -> PickleScan:
    """Walk one pickle up to its STOP opcode; raises ValueError on a malformed stream.

    The pickle's stack is modelled from pickletools' own opcode signatures (what each
    opcode pops and pushes, marks included), tracking only string constants, so the
    operands of STACK_GLOBAL resolve exactly as the unpickler would see them.
    """
    found: set[str] = set()
    marks: set[str] = set()
    memo: dict[int, object] = {}
    stack: list[object] = []
    ints: list[int] = []
    ops = 0
    for op, arg, _pos in pickletools.genops(stream):
        ops += 1
        name = op.name
        if name in _MEMO_PUT or name == "MEMOIZE":
            memo[arg if name in _MEMO_PUT else len(memo)] = stack[-1] if stack else None
            continue
        if name in ("GLOBAL", "INST"):
            found.add(_modern(*str(arg).split(" ", 1)))
        if name in _INTS:
            ints.append(arg)
        popped = _pop(stack, op)
        if name == "STACK_GLOBAL":
            module, qualname = (popped + [None, None])[:2]
            ok = isinstance(module, str) and isinstance(qualname, str)
            found.add(f"{module}.{qualname}" if ok else DYNAMIC)
        for _ in op.stack_after:
            stack.append(_pushed(name, arg, memo, popped, marks))
    magic = ints[0] if ops <= 3 and len(ints) == 1 else None
    return PickleScan(frozenset(found), _MODULE_MARKS <= marks, magic)


def _pop(stack: list[object], op: pickletools.OpcodeInfo) -> list[object]:
    """Remove what `op` consumes (down to the last mark for mark-taking opcodes)."""
    before = op.stack_before
    if pickletools.markobject in before:
        while stack and stack[-1] is not _MARK:
            stack.pop()
        if stack:
            stack.pop()
        count = before.index(pickletools.markobject)
    else:
        count = len(before)
    popped = [stack.pop() if stack else None for _ in range(count)]
    return popped[::-1]


def _pushed(name: str, arg: object, memo: dict[int, object], popped: list[object], marks: set[str]) -> object:
    if name == "MARK":
        return _MARK
    if name in _STRING_OPS:
        text = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
        if text in _MODULE_MARKS:
            marks.add(text)
        return text
    if name in _MEMO_GET:
        return memo.get(arg)
    if name == "DUP":
        return popped[0] if popped else None
    return None


def _modern(module: str, name: str) -> str:
    """Python 2 names in protocol 0-2 pickles, mapped as the unpickler (and torch) map them."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


def torch_allowlist() -> frozenset[str]:
    """The globals torch.load(weights_only=True) accepts, including user-added safe globals."""
    from torch import _weights_only_unpickler as wou  # the same source torch's own checker uses

    return frozenset(wou._get_allowed_globals()) | frozenset(wou._get_user_allowed_globals())


def is_dangerous(qualified: str) -> bool:
    """Globals a loader could call to run code, as opposed to the classes of a pickled model."""
    if qualified == DYNAMIC or qualified in _BENIGN:
        return qualified == DYNAMIC
    top = qualified.split(".", 1)[0]
    return top in _DANGEROUS_MODULES
