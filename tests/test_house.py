"""The house (docs/architecture.md): every import, lazy ones inside functions included, runs down.

A room may import its own modules and the rooms below it, never a room above it or beside it.
The test reads the source (it imports nothing from the package), so it also catches an arrow
hidden in a function that only runs on a GPU machine.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ocrdoctor"

# Lower numbers sit lower in the house. Rooms on the same floor may not import each other.
FLOORS = {
    "core": 0,
    "anatomy": 1, "specimens": 1,
    "read": 2,
    "inspect": 3,
    "checks": 4,
    "treat": 5, "render": 5,
    "run": 6,  # the one run: plans, target kinds, what the user named, the loop
    "api": 7,  # api.py and the package's __init__: the Python face
    "cli": 8,
    "__main__": 9,
}
MAX_LINES = 400
# The old module paths that were shims until 0.5.0 (CHANGELOG "Removed"): each must now be gone.
REMOVED = {
    "ocrdoctor.findings": "ocrdoctor.core.findings", "ocrdoctor.registry": "ocrdoctor.core.registry",
    "ocrdoctor.engine": "ocrdoctor.core.engine", "ocrdoctor.config": "ocrdoctor.core.config",
    "ocrdoctor.units": "ocrdoctor.core.units", "ocrdoctor.timing": "ocrdoctor.core.timing",
    "ocrdoctor.rulesdoc": "ocrdoctor.render.rulesdoc", "ocrdoctor.architectures": "ocrdoctor.anatomy.architectures",
    "ocrdoctor.heads": "ocrdoctor.anatomy.heads", "ocrdoctor.versions": "ocrdoctor.anatomy.versions",
    "ocrdoctor.untrained": "ocrdoctor.anatomy.untrained", "ocrdoctor.pageoptions": "ocrdoctor.anatomy.pageoptions",
    "ocrdoctor.ortrun": "ocrdoctor.inspect.ortrun", "ocrdoctor.build": "ocrdoctor.treat.build",
    "ocrdoctor.materialize": "ocrdoctor.treat.materialize", "ocrdoctor.repair": "ocrdoctor.treat.fix",
    "ocrdoctor.export": "ocrdoctor.treat.export", "ocrdoctor.tune": "ocrdoctor.treat.optimize",
    "ocrdoctor.bench": "ocrdoctor.treat.bench", "ocrdoctor.samples": "ocrdoctor.treat.samples",
    "ocrdoctor.demo": "ocrdoctor.cli.demo",
}
# Running rules and building a Report belong to core and the run room; everyone else is handed a plan.
RUNNERS = {"select_rules", "run_rules", "run_checkpoint_rules", "merge_results", "Report", "make_plan"}
MAY_RUN = {"core", "run"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> str:
    parts = module.split(".")
    return "api" if len(parts) == 1 else parts[1]


def imports(path: Path, module: str, known: dict[str, Path]) -> list[tuple[int, str]]:
    """(line, module imported) for every import in the file, at any depth: statements, and modules named by
    string (`importlib.import_module("ocrdoctor.x")`, or a table of names joined to `__name__`/`__package__`)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
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
    return found + string_imports(tree, module, package, known)


def string_imports(tree: ast.AST, module: str, package: str, known: dict[str, Path]) -> list[tuple[int, str]]:
    """Modules a file that imports by string names as strings: a full dotted name ("ocrdoctor.checks.model",
    "ocrdoctor.render.text:f"),
    or, where the file imports by `f"{__name__}.{...}"` or `f"{__package__}.{...}"`, any string that names a
    module once joined to that prefix."""
    if not any(isinstance(n, ast.Attribute) and n.attr == "import_module" or isinstance(n, ast.Name)
               and n.id == "__import__" for n in ast.walk(tree)):
        return []  # a string is an import only where something imports by string
    prefixes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.FormattedValue):
            value = node.values[0].value
            if isinstance(value, ast.Name) and value.id in ("__name__", "__package__"):
                prefixes.add(module if value.id == "__name__" else package)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value.split(":")[0]
        if not text or not all(part.isidentifier() for part in text.split(".")):
            continue
        names = [text] + [f"{prefix}.{text}" for prefix in prefixes]
        found += [(node.lineno, name) for name in names if name in known and name not in (module, "ocrdoctor")]
    # f"{__name__}.text:render_text": the constant tail ".text:render_text" joined to the prefix
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and len(node.values) == 2 and isinstance(node.values[1], ast.Constant):
            tail = str(node.values[1].value).split(":")[0]
            for prefix in prefixes:
                if f"{prefix}{tail}" in known:
                    found.append((node.lineno, f"{prefix}{tail}"))
    return found


def upward_arrows() -> list[str]:
    known = modules()
    wrong = []
    for module, path in known.items():
        src = room(module)
        for line, target in imports(path, module, known):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
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
    rooms = {room(m) for m in modules()}
    assert rooms <= set(FLOORS), rooms - set(FLOORS)


def test_the_walk_sees_string_imports():
    """The registry's table of rule modules and the renderers' table are imports too, and are seen."""
    known = modules()
    checks = imports(PACKAGE / "checks" / "__init__.py", "ocrdoctor.checks", known)
    assert "ocrdoctor.checks.model" in {t for _, t in checks}
    render = imports(PACKAGE / "render" / "__init__.py", "ocrdoctor.render", known)
    assert {"ocrdoctor.render.text", "ocrdoctor.render.sarif"} <= {t for _, t in render}
    face = imports(PACKAGE / "__init__.py", "ocrdoctor", known)
    assert "ocrdoctor.treat.optimize" in {t for _, t in face}


def runners_outside() -> list[str]:
    """Calls that select or run rules, or build a Report, outside core/ and run/."""
    wrong = []
    for module, path in modules().items():
        if room(module) in MAY_RUN:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
                if name in RUNNERS:
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} calls {name}")
    return wrong


def test_only_core_and_the_run_room_run_rules_or_build_reports():
    assert runners_outside() == []


def test_the_runner_walk_is_not_blind(tmp_path):
    source = (PACKAGE / "treat" / "compare.py").read_text() + "\n\ndef _probe(r):\n    return Report((r,))\n"
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "id",
                                                                                           "") == "Report"]
    assert calls


def test_no_module_over_400_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize("old", sorted(REMOVED))
def test_old_paths_are_gone(old):
    """The shims lived through 0.3 and 0.4 as promised; 0.5.0 removed them (CHANGELOG "Removed")."""
    code = f"import importlib\ntry:\n    importlib.import_module({old!r})\nexcept ModuleNotFoundError:\n    pass\n" \
           "else:\n    raise SystemExit('still importable')\n" \
           f"importlib.import_module({REMOVED[old]!r})\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout


def reexported_names() -> list[str]:
    """`from X import name` inside the package where X only re-exports `name` (it is defined elsewhere)."""
    known = modules()
    defined: dict[str, set[str]] = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text())
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        defined[module] = names
    wrong = []
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("ocrdoctor"):
                target = node.module
            else:
                continue
            if target not in known:
                continue
            for alias in node.names:
                if f"{target}.{alias.name}" in known or alias.name == "*" or alias.name in defined[target]:
                    continue
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {alias.name} from {target}")
    return wrong


def test_no_module_imports_a_name_from_a_module_that_only_reexports_it():
    assert reexported_names() == []


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


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_reader_and_no_rule(args):
    """`ocrdoctor --version` and `--help` load the command line only: no api, no read/, no rule module."""
    code = (
        "import sys\n"
        "from ocrdoctor.cli import main\n"
        f"sys.argv = ['ocrdoctor', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('ocrdoctor.'))\n"
        "print('LOADED', ' '.join(loaded))\n"
        "print('NUMPY', 'numpy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = next(line for line in result.stdout.splitlines() if line.startswith("LOADED")).split()[1:]
    assert not [m for m in loaded if m == "ocrdoctor.api" or m.startswith(("ocrdoctor.read", "ocrdoctor.run"))]
    checks = {m for m in loaded if m.startswith("ocrdoctor.checks.")}
    assert checks == set(), checks  # the table of rule modules (ocrdoctor.checks) only, no rule
    assert "NUMPY False" in result.stdout


def test_the_package_names_its_functions_lazily():
    """`from ocrdoctor import check_paths, Report` works, and the Report's text and HTML views with it, while
    `import ocrdoctor` alone reads nothing."""
    code = (
        "import sys\nimport ocrdoctor\n"
        "assert 'ocrdoctor.api' not in sys.modules and 'ocrdoctor.read.file' not in sys.modules\n"
        "from ocrdoctor import Report, check_deployment, check_paths, compare, diagnose\n"
        "assert 'ocrdoctor.api' in sys.modules\n"
        "r = Report()\n"
        "assert str(r).startswith('No problems found') and '<' in r._repr_html_()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_reader_has_no_import_circle_and_chooses_no_targets():
    """read/ only reads bytes: no module of it imports another that imports it back (at any depth, lazy imports
    included), and none raises the run's UsageError (what the user named is the run room's business)."""
    known = modules()
    reader = {m: p for m, p in known.items() if room(m) == "read"}
    graph = {m: {t for _, t in imports(p, m, known) if t in reader and t != m} for m, p in reader.items()}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    circles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if reaches(b, a, set()))
    assert circles == []
    assert not [m for m, p in reader.items() if "UsageError" in p.read_text()]
