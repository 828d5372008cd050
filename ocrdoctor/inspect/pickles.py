"""Read what a pickle would import, without running it or importing anything it names.

torch's `get_unsafe_globals_in_checkpoint` reads only zip checkpoints and only the GLOBAL
opcode; legacy torch files and plain pickles, and the STACK_GLOBAL / INST opcodes, need
this walk. `pickletools.genops` decodes opcodes and never executes them.
"""

from __future__ import annotations

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
_NO_PUSH = {"PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK"} | _MEMO_PUT | {"MEMOIZE"}

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
    """Walk one pickle up to its STOP opcode; raises ValueError on a malformed stream."""
    found: set[str] = set()
    marks: set[str] = set()
    memo: dict[int, object] = {}
    recent: list[object] = []  # what the last opcodes pushed, enough to resolve STACK_GLOBAL
    ints: list[int] = []
    ops = 0
    for op, arg, _pos in pickletools.genops(stream):
        ops += 1
        name = op.name
        if name in ("GLOBAL", "INST"):
            found.add(".".join(str(arg).split(" ", 1)))
        elif name == "STACK_GLOBAL":
            qualname = recent.pop() if recent else None
            module = recent.pop() if recent else None
            if isinstance(module, str) and isinstance(qualname, str):
                found.add(f"{module}.{qualname}")
            else:
                found.add(DYNAMIC)
        elif name in _STRING_OPS:
            text = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
            recent.append(text)
            if text in _MODULE_MARKS:
                marks.add(text)
        elif name in _MEMO_PUT:
            memo[arg] = recent[-1] if recent else None
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif name in _MEMO_GET:
            recent.append(memo.get(arg))
        elif name not in _NO_PUSH:
            recent.append(None)
            if name in ("LONG1", "LONG4", "BININT", "BININT1", "BININT2", "INT", "LONG"):
                ints.append(arg)
        del recent[:-64]
    magic = ints[0] if ops <= 3 and len(ints) == 1 else None
    return PickleScan(frozenset(found), _MODULE_MARKS <= marks, magic)


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
