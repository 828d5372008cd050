"""The name lists the safety verdict reads, kept as data in ocrdoctor/data/.

- torch_weights_only.json: what torch's weights-only unpickler accepts (generated from torch).
- module_classes.json: the nn.Module classes (and docTR's helper classes) of torch, torchvision
  and docTR that a `torch.save(model)` pickle rebuilds (generated from the installed packages).
- harmless_globals.json: what training scripts pickle beside the weights (numpy values,
  argparse.Namespace, paths, Lightning and omegaconf containers), each with a model of what it
  does at load time with what the pickle hands it and the source lines that make it inert
  (read/inert.py judges each use against it).

`python -m ocrdoctor.read.allowlist` regenerates the two generated lists from the installed
torch, torchvision and docTR; tests/test_allowlist.py fails when the installed torch drifts.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SHIPPED_PACKAGES = ("torch", "torchvision", "doctr", "numpy")


def _data(name: str) -> dict:
    return json.loads((Path(__file__).resolve().parent.parent / "data" / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def torch_weights_only() -> frozenset[str]:
    return frozenset(_data("torch_weights_only.json")["globals"])


@lru_cache(maxsize=1)
def module_classes() -> frozenset[str]:
    """Classes a pickled torch / torchvision / docTR model rebuilds with NEWOBJ."""
    return _grouped("classes")


@lru_cache(maxsize=1)
def enum_classes() -> frozenset[str]:
    """Enums of torchvision and docTR a pickled model calls to look a member up (InterpolationMode)."""
    return _grouped("enums")


def _grouped(key: str) -> frozenset[str]:
    grouped = _data("module_classes.json")[key]
    return frozenset(f"{module}.{name}" for module, names in grouped.items() for name in names)


@lru_cache(maxsize=1)
def _harmless() -> tuple[dict[str, dict], dict[str, dict], tuple[str, ...]]:
    table = _data("harmless_globals.json")
    entries = table["globals"]
    exact = {n: e for n, e in entries.items() if not n.endswith("*")}
    prefixes = {n[:-1]: e for n, e in entries.items() if n.endswith("*")}
    return exact, prefixes, tuple(table["bit_generators"])


def harmless_spec(name: str) -> dict | None:
    """What a harmless global does at load time with what it is handed (None: not on the list)."""
    exact, prefixes, _ = _harmless()
    if name in exact:
        return exact[name]
    return next((e for p, e in prefixes.items() if name.startswith(p)), None)


def is_harmless(name: str) -> bool:
    return harmless_spec(name) is not None


def bit_generator_class(value) -> set[str]:
    """The dotted class of a bit generator handed by name (numpy 1.x pickles pass 'MT19937')."""
    if not isinstance(value, str):
        return set()
    exact, _, _ = _harmless()
    return {n for n in exact if n.startswith("numpy.random.") and n.rsplit(".", 1)[-1] == value}


def torchbind_classes() -> frozenset[str]:
    """The TorchBind classes whose saved state torch's own C++ rebuilds: quantized packed parameters."""
    return frozenset(_data("harmless_globals.json")["torchbind_classes"])


def bit_generators() -> tuple[str, ...]:
    """numpy's own bit generators (numpy/random/_pickle.py BitGenerators), the only types its ctors may build."""
    return _harmless()[2]


# --- generation (development only: imports torch, torchvision and docTR) -----------------------

def generate_torch_weights_only() -> dict:
    import torch
    from torch import _weights_only_unpickler as wou

    return {"torch": torch.__version__.split("+")[0], "globals": sorted(wou._get_allowed_globals())}


def generate_module_classes() -> dict:
    import enum
    import importlib
    import inspect
    import pkgutil

    import doctr
    import torch
    import torchvision
    from doctr.models.core import NestedObject

    classes: dict[str, set[str]] = {}
    enums: dict[str, set[str]] = {}
    packages = (torch.nn, torchvision.models, torchvision.ops, torchvision.transforms, importlib.import_module("doctr"))
    for package in packages:
        modules = [package] + [importlib.import_module(i.name) for i in
                               pkgutil.walk_packages(package.__path__, package.__name__ + ".") if _importable(i.name)]
        for module in modules:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not cls.__module__.startswith(("torch", "doctr")):
                    continue
                if issubclass(cls, torch.nn.Module) or (issubclass(cls,
                                                                   NestedObject)
                                                                   and cls.__module__.startswith("doctr")):
                    classes.setdefault(cls.__module__, set()).add(cls.__qualname__)
                elif issubclass(cls, enum.Enum) and cls.__module__.startswith(("torchvision.transforms", "doctr")):
                    enums.setdefault(cls.__module__, set()).add(cls.__qualname__)
    return {"torch": torch.__version__.split("+")[0], "torchvision": torchvision.__version__.split("+")[0],
            "doctr": doctr.__version__, "classes": {m: sorted(n) for m, n in sorted(classes.items())},
            "enums": {m: sorted(n) for m, n in sorted(enums.items())}}


def _importable(name: str) -> bool:
    import importlib

    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


def _write(name: str, table: dict) -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "data" / name
    path.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":  # python -m ocrdoctor.read.allowlist
    _write("torch_weights_only.json", generate_torch_weights_only())
    _write("module_classes.json", generate_module_classes())
