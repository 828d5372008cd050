"""The house (docs/architecture.md): every import, lazy ones inside functions included, runs down.

A room may import its own modules and the rooms below it, never a room above it or beside it.
The test reads the source (it imports nothing from the package), so it also catches an arrow
hidden in a function that only runs on a GPU machine.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ocrdoctor.core.moved import MOVED

PACKAGE = Path(__file__).resolve().parent.parent / "ocrdoctor"

# Lower numbers sit lower in the house. Rooms on the same floor may not import each other.
FLOORS = {
    "core": 0,
    "anatomy": 1, "specimens": 1,
    "read": 2,
    "inspect": 3,
    "checks": 4,
    "treat": 5, "render": 5,
    "api": 6,  # api.py and the package's __init__: the Python face
    "cli": 7,
    "__main__": 8,
}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    parts = module.split(".")
    return "api" if len(parts) == 1 else parts[1]


def imports(path: Path, module: str, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, module imported) for every import statement in the file, at any depth."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "ocrdoctor"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "ocrdoctor":
                target = node.module
            else:
                continue
            # `from . import x`: x is a module when one exists by that name
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found += [(node.lineno, s) for s in subs] or [(node.lineno, target)]
    return found


def upward_arrows() -> list[str]:
    known = modules()
    shims = set(MOVED)
    wrong = []
    for module, path in known.items():
        if module in shims or module == "ocrdoctor.core.moved":
            continue
        src = room(module)
        for line, target in imports(path, module, known):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if target in shims:
                wrong.append(f"{where} (an old path: import {MOVED[target]})")
                continue
            dst = room(target)
            if dst == src:
                continue
            if dst not in FLOORS or src not in FLOORS:
                wrong.append(f"{where} (room {dst if dst not in FLOORS else src} is not on the plan)")
            elif FLOORS[dst] >= FLOORS[src]:
                wrong.append(f"{where} ({src} on floor {FLOORS[src]} may not import {dst} on floor {FLOORS[dst]})")
    return wrong


def test_every_arrow_runs_down():
    assert upward_arrows() == []


def test_the_walk_sees_lazy_imports(tmp_path, monkeypatch):
    """The walker is not blind: an import inside a function of a rule, reaching a treatment, is caught."""
    rule = PACKAGE / "checks" / "model.py"
    tree = ast.parse(rule.read_text() + "\n\ndef _probe():\n    from ..treat.build import build_model\n")
    lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "treat.build"]
    assert lines
    known = modules()
    fake = tmp_path / "model.py"
    fake.write_text(ast.unparse(tree))
    found = imports(fake, "ocrdoctor.checks.model", known)
    assert ("ocrdoctor.treat.build" in {t for _, t in found})
    assert FLOORS[room("ocrdoctor.treat.build")] > FLOORS[room("ocrdoctor.checks.model")]


def test_every_room_is_on_the_plan():
    rooms = {room(m) for m in modules() if m not in MOVED}
    assert rooms <= set(FLOORS), rooms - set(FLOORS)


def test_no_module_over_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_paths_warn_and_name_the_new_one(old):
    """Each old module path works as a thin shim: the same module object, and a DeprecationWarning."""
    code = (
        "import warnings, importlib, sys\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({MOVED[old]!r})\n"
        "assert old is new, (old, new)\n"
        "msgs = [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]\n"
        f"assert any({MOVED[old]!r} in m for m in msgs), msgs\n"
    )
    # a fresh interpreter: in this one the shim may already have been replaced in sys.modules
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_names_plugins_and_scripts_import_still_resolve():
    """The names a plugin or script is most likely to have imported from the old paths."""
    wanted = {
        "ocrdoctor.registry": ["check", "default", "Registry", "one_line"],
        "ocrdoctor.findings": ["Finding", "Problem", "Report", "Severity", "Skip", "Applicability"],
        "ocrdoctor.build": ["MissingExtra", "BuildError", "build_model", "build_predictor", "offline_ocr_predictor"],
        "ocrdoctor.samples": ["text_page", "word_crop", "sample_images"],
        "ocrdoctor.config": ["Settings", "load_settings"],
        "ocrdoctor.engine": ["run_rules"],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for module, names in wanted.items():
            mod = importlib.import_module(module)
            assert all(hasattr(mod, n) for n in names), (module, [n for n in names if not hasattr(mod, n)])
    from ocrdoctor.api import UsageError, run_checkpoint_rules, select_rules  # where they were before core.engine
    from ocrdoctor.core.engine import UsageError as moved

    assert UsageError is moved and callable(run_checkpoint_rules) and callable(select_rules)


def test_report_views_come_from_render_without_core_importing_it(tmp_path):
    """str(), repr() and the notebook view of a Report are the renderers', filled in by `render`."""
    import ocrdoctor
    from ocrdoctor.render.html import render_html
    from ocrdoctor.render.text import render_text

    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    report = ocrdoctor.check_path(path)
    assert str(report) == repr(report) == render_text(report, color=False)
    assert "OD100" in str(report)
    assert report._repr_html_() == render_html(report)


def test_core_alone_prints_a_summary():
    """With render never imported (core used on its own), a Report still prints what it found."""
    code = (
        "import sys\n"
        "from ocrdoctor.core import findings\n"
        "r = findings.Report()\n"
        "assert 'ocrdoctor.render' not in sys.modules\n"
        "print(str(r)); print(r._repr_html_())\n"
    )
    # import the submodule without the package's __init__ pulling render in: load core by path
    loader = (
        "import importlib.util, sys, types\n"
        f"pkg = types.ModuleType('ocrdoctor'); pkg.__path__ = [{str(PACKAGE)!r}]; sys.modules['ocrdoctor'] = pkg\n"
    )
    result = subprocess.run([sys.executable, "-c", loader + code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ocrdoctor report: 0 targets, 0 error, 0 warning, 0 info", "None"]
