"""Rules: declared once with @check, validated on registration, discovered in a fixed order.

A rule's code, name, severity, target kind, default fix and examples sit in its decorator;
its docstring is its documentation. Third-party packages add rules through the
`ocrdoctor.checks` entry-point group: loading one is two steps (find, then load), sorted by
entry-point name so runs repeat, and a plugin that fails is recorded by name, never fatal.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .findings import Applicability, CheckError, Severity

ENTRY_POINT_GROUP = "ocrdoctor.checks"
DISABLE_PLUGINS_ENV = "OCRDOCTOR_DISABLE_PLUGIN_AUTOLOAD"  # like PYTEST_DISABLE_PLUGIN_AUTOLOAD
TARGET_KINDS = ("checkpoint", "model", "environment", "onnx", "comparison", "onnxtr")
VALUES_NOTE = "Reads tensor values: skipped with `--values none` (the default for URLs)."
DOC_SECTIONS = ("What it detects", "Why it matters", "Fix", "Example")
FIELD_SECTION = "Seen in the field"  # optional: the issue threads a rule comes from

_CODE = re.compile(r"^[A-Z]{1,5}[0-9]{3}$")
_PREFIX = re.compile(r"^[A-Z]{1,5}[0-9]{0,3}$")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class RegistryError(Exception):
    """A rule declaration is invalid (bad or duplicate code, missing docs)."""


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    target: str
    func: Callable
    summary: str
    docs: dict[str, str]
    fix: str | None = None
    applicability: Applicability | None = None
    good: tuple[Callable, ...] = ()
    bad: tuple[Callable, ...] = ()
    origin: str = "ocrdoctor"
    scope: str = "model"  # checkpoint rules: "file" runs once per file, "model" once per model the file holds
    also: tuple[str, ...] = ()  # other target kinds whose facts it reads too (OD212: OnnxTR predictors)
    values: bool = False  # reads tensor values: skipped when they were not read (`--values none`)

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every target kind the rule runs on: its own first."""
        return (self.target, *self.also)

    def explain(self) -> str:
        """The rule's page, in the sections of ruff's rule pages."""
        head = f"{self.code} {self.name} ({self.severity.value}, {', '.join(self.kinds)})"
        parts = [head, "", self.summary]
        if self.values:
            parts += ["", VALUES_NOTE]
        for section in (*DOC_SECTIONS, FIELD_SECTION):
            if self.docs.get(section):
                parts += ["", f"## {section}", self.docs[section]]
        return "\n".join(parts)


def parse_docs(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a rule docstring into its summary line and its four titled sections."""
    text = inspect.cleandoc(doc or "")
    summary, _, body = text.partition("\n")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        title = line.rstrip(":").strip()
        if line.endswith(":") and (title in DOC_SECTIONS or title == FIELD_SECTION):
            current = sections.setdefault(title, [])
        elif current is not None:
            current.append(line)
    docs = {k: inspect.cleandoc("\n".join(v)) for k, v in sections.items()}
    return summary.strip(), docs


@dataclass
class Registry:
    rules: dict[str, Rule] = field(default_factory=dict)
    plugin_errors: list[CheckError] = field(default_factory=list)
    _loaded: bool = False  # plugins
    _kinds: set[str] = field(default_factory=set)  # target kinds whose built-in rules are imported

    def check(
        self,
        code: str,
        name: str,
        severity: Severity,
        target: str,
        *,
        fix: str | None = None,
        applicability: Applicability | None = None,
        good: Iterable[Callable] = (),
        bad: Iterable[Callable] = (),
        scope: str = "model",
        also: Iterable[str] = (),
        values: bool = False,
    ) -> Callable[[Callable], Callable]:
        """Decorator that registers a check function as a rule."""

        def register(func: Callable) -> Callable:
            summary, docs = parse_docs(func.__doc__)
            rule = Rule(
                code=code, name=name, severity=Severity(severity), target=target, func=func,
                summary=summary, docs=docs, fix=fix, applicability=applicability,
                good=tuple(good), bad=tuple(bad), origin=_origin(func), scope=scope,
                also=tuple(also), values=values,
            )
            self.add(rule)
            return func

        return register

    def add(self, rule: Rule) -> None:
        problems = validate(rule)
        if rule.code in self.rules:
            problems.append(f"code {rule.code} is already used by {self.rules[rule.code].name}")
        # Names repeat across target kinds in the catalog (OD107 / OD203 mixed-dtypes), not within one.
        if any(r.name == rule.name and r.target == rule.target for r in self.rules.values()):
            problems.append(f"name {rule.name} is already used for {rule.target} targets")
        if problems:
            raise RegistryError(f"rule {rule.code} ({rule.origin}): " + "; ".join(problems))
        self.rules[rule.code] = rule

    def load(self, kinds: Iterable[str] | None = None) -> Registry:
        """Import the built-in rules of `kinds` (all when None), and every plugin once (unless disabled by the
        environment); idempotent. Importing a kind's rules imports its inspector: a checkpoint check
        does not pay for the environment's or a live model's."""
        for kind in TARGET_KINDS if kinds is None else kinds:
            if kind not in self._kinds and _BUILTIN:
                self._kinds.add(kind)
                _BUILTIN[0](kind)
        if self._loaded:
            return self
        self._loaded = True
        if os.environ.get(DISABLE_PLUGINS_ENV):
            return self
        for ep in sorted(find_plugins(), key=lambda e: e.name):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin is reported, never fatal
                self.plugin_errors.append(
                    CheckError(rule="plugin", name=ep.name, target="<plugins>", error=one_line(exc))
                )
        return self

    def sorted_rules(self, target: str | None = None) -> list[Rule]:
        return [r for _, r in sorted(self.rules.items()) if target is None or target in r.kinds]

    def select(self, select: Iterable[str] = (), ignore: Iterable[str] = (), target: str | None = None) -> list[Rule]:
        """Rules enabled by code prefixes; the most specific prefix wins, ignore wins ties."""
        select, ignore = list(select), list(ignore)
        self.validate_prefixes(select + ignore)
        return [r for r in self.sorted_rules(target) if is_enabled(r.code, select, ignore)]

    def validate_prefixes(self, prefixes: Iterable[str]) -> None:
        for prefix in prefixes:
            if prefix == "ALL":
                continue
            if not _PREFIX.match(prefix):
                raise RegistryError(f"'{prefix}' is not a rule code or prefix (like OD103 or OD1)")
            if not any(code.startswith(prefix) for code in self.rules):
                raise RegistryError(f"unknown rule code or prefix '{prefix}'")


def is_enabled(code: str, select: list[str], ignore: list[str]) -> bool:
    def best(prefixes: list[str]) -> int:
        lengths = [0 if p == "ALL" else len(p) for p in prefixes if p == "ALL" or code.startswith(p)]
        return max(lengths, default=-1)

    chosen, dropped = best(select), best(ignore)
    if dropped >= 0 and dropped >= chosen:
        return False
    return chosen >= 0 or not select


def validate(rule: Rule) -> list[str]:
    problems = []
    if not _CODE.match(rule.code):
        problems.append("code must be 1-5 capitals and 3 digits, like OD103")
    if not _NAME.match(rule.name):
        problems.append("name must be kebab-case")
    if rule.target not in TARGET_KINDS:
        problems.append(f"target must be one of {', '.join(TARGET_KINDS)}")
    if any(kind not in TARGET_KINDS or kind == rule.target for kind in rule.also):
        problems.append(f"also must name other target kinds among {', '.join(TARGET_KINDS)}")
    if rule.scope not in ("file", "model"):
        problems.append("scope must be 'file' or 'model'")
    if not rule.summary:
        problems.append("docstring has no summary line")
    missing = [s for s in DOC_SECTIONS if not rule.docs.get(s)]
    if missing:
        problems.append("docstring lacks section(s): " + ", ".join(missing))
    return problems


def find_plugins() -> list:
    """The `ocrdoctor.checks` entry points, found by importlib.metadata; it is imported (20 ms of a plain check)
    only when a distribution on the path declares the group at all."""
    if not _declared_anywhere():
        return []
    import importlib.metadata

    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def _declared_anywhere() -> bool:
    """Whether an entry_points.txt of a distribution on sys.path (where importlib.metadata's path finder looks)
    names the group; anything unreadable or unusual answers yes, and importlib.metadata decides."""
    marker = f"[{ENTRY_POINT_GROUP}]"
    for folder in sys.path:
        try:
            with os.scandir(folder or ".") as entries:
                names = [e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")) and e.is_dir()]
        except OSError:
            if os.path.isfile(folder):  # a zip on the path: only importlib.metadata reads it
                return True
            continue
        for name in names:
            try:
                with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as f:
                    if marker in f.read():
                        return True
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError):
                return True
    return False


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The exception's first line; a line that ends in a colon takes the next (load_state_dict's keys)."""
    text = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    first = text[0] if text else ""
    if first.endswith(":") and len(text) > 1:
        first = f"{first} {text[1]}"
    if len(first) > limit:
        first = first[:limit - 1] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _origin(func: Callable) -> str:
    module = getattr(func, "__module__", "") or ""
    return "ocrdoctor" if module.startswith("ocrdoctor.") else module.split(".")[0]


_BUILTIN: list[Callable[[str], None]] = []  # the built-in rules' loader: `checks` registers it, core cannot name it


def register_builtin(loader: Callable[[str], None]) -> None:
    """`loader(kind)` imports the built-in rules of a target kind (ocrdoctor.checks calls this when imported)."""
    _BUILTIN[:] = [loader]


default = Registry()
check = default.check
