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
from collections.abc import Callable
from typing import Any

from .rebuild import _DTYPES, _SPECIAL, _TENSORS, _Bound, _counted
from .records import STORAGE_DTYPES
from .stubs import DType, StorageType, Uses


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
            raise pickle.UnpicklingError("the pickle refers to data outside it (a persistent id), which a plain "
                                         "pickle cannot")
        return self._persistent(pid)


def modern_name(module: str, name: str) -> str:
    """Python 2 names mapped as the unpickler maps them (`__builtin__.eval` -> `builtins.eval`)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"
