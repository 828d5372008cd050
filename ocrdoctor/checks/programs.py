"""The Python programs fixes print: complete, runnable as pasted, fitted to the installed versions."""

from __future__ import annotations

from typing import Mapping, Sequence

from ..versions import parse


def safe_globals_load(names: Sequence[str], versions: Mapping[str, str]) -> str | None:
    """torch.load(path) with exactly `names` allowed; None where the installed torch lacks safe_globals (< 2.5)."""
    torch = parse(versions.get("torch"))
    if not torch or torch < (2, 5):
        return None
    numpy2 = parse(versions.get("numpy")) >= (2,)
    imports, items = set(), []
    for name in names:
        module, attr = name.rsplit(".", 1)
        here = _numpy_module(module, numpy2)
        imports.add(here)
        expr = f"{here}.{attr}"
        items.append(expr if here == module or torch < (2, 6) else f'({expr}, "{name}")')
    lines = [f"import {m}" for m in sorted(imports) if m != "torch"] + ["import torch", ""]
    lines += ["with torch.serialization.safe_globals(["] + [f"    {item}," for item in items]
    lines += ["]):", "    ckpt = torch.load(path, map_location=\"cpu\", weights_only=True)"]
    return "\n".join(lines)


def _numpy_module(module: str, numpy2: bool) -> str:
    """numpy moved numpy.core to numpy._core in 2.0; pickles keep the name they were saved with."""
    if numpy2 and (module == "numpy.core" or module.startswith("numpy.core.")):
        return "numpy._core" + module[len("numpy.core"):]
    if not numpy2 and (module == "numpy._core" or module.startswith("numpy._core.")):
        return "numpy.core" + module[len("numpy._core"):]
    return module
