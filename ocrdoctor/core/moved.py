"""Old module paths that still work: a shim module hands its importer the module's new home.

The shim replaces itself in `sys.modules` with the new module, so `ocrdoctor.registry.default`
is `ocrdoctor.core.registry.default` (the same object: patching one patches the other), and it
warns once with a DeprecationWarning that names the new path.
"""

from __future__ import annotations

import importlib
import sys
import warnings

# Each old path and where it lives now (docs/architecture.md lists the rooms).
MOVED = {
    "ocrdoctor.findings": "ocrdoctor.core.findings",
    "ocrdoctor.registry": "ocrdoctor.core.registry",
    "ocrdoctor.engine": "ocrdoctor.core.engine",
    "ocrdoctor.config": "ocrdoctor.core.config",
    "ocrdoctor.units": "ocrdoctor.core.units",
    "ocrdoctor.timing": "ocrdoctor.core.timing",
    "ocrdoctor.rulesdoc": "ocrdoctor.render.rulesdoc",
    "ocrdoctor.architectures": "ocrdoctor.anatomy.architectures",
    "ocrdoctor.heads": "ocrdoctor.anatomy.heads",
    "ocrdoctor.versions": "ocrdoctor.anatomy.versions",
    "ocrdoctor.untrained": "ocrdoctor.anatomy.untrained",
    "ocrdoctor.pageoptions": "ocrdoctor.anatomy.pageoptions",
    "ocrdoctor.ortrun": "ocrdoctor.inspect.ortrun",
    "ocrdoctor.build": "ocrdoctor.treat.build",
    "ocrdoctor.materialize": "ocrdoctor.treat.materialize",
    "ocrdoctor.repair": "ocrdoctor.treat.fix",
    "ocrdoctor.export": "ocrdoctor.treat.export",
    "ocrdoctor.tune": "ocrdoctor.treat.optimize",
    "ocrdoctor.bench": "ocrdoctor.treat.bench",
    "ocrdoctor.samples": "ocrdoctor.treat.samples",
    "ocrdoctor.demo": "ocrdoctor.cli.demo",
}


def moved(old: str) -> None:
    """Called by the shim at `old`: warn at the importer's line, then become the new module."""
    new = MOVED[old]
    warnings.warn(f"{old} has moved to {new}; import it from there (the old path will be removed)",
                  DeprecationWarning, stacklevel=3)  # moved() -> the shim -> (import machinery) -> importer
    sys.modules[old] = importlib.import_module(new)
