"""Rule declarations are validated; selection, plugins and crashing checks behave as documented."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from ocrdoctor.core.engine import run_rules
from ocrdoctor.core.findings import Problem, Severity, Skip
from ocrdoctor.core.registry import DOC_SECTIONS, FIELD_SECTION, Registry, RegistryError, default, is_enabled

DOC = """Summary.

What it detects:
    x
Why it matters:
    y
Fix:
    z
Example:
    w
"""


def _declare(reg: Registry, code="XY100", name="some-rule", doc=DOC, target="checkpoint"):
    def func(facts):
        return []

    func.__doc__ = doc
    return reg.check(code, name, Severity.WARNING, target)(func)


def test_builtin_rules_cover_the_catalog_with_full_docs():
    rules = default.load().rules
    catalog = [*range(100, 129), *range(201, 217), *range(301, 312), *range(401, 405), *range(501, 507),
               *range(601, 604)]  # RULES.md
    assert sorted(rules) == [f"OD{n}" for n in catalog]
    field = {c for c, r in rules.items() if r.docs.get(FIELD_SECTION)}
    assert {"OD116", "OD210", "OD211", "OD212", *(f"OD{n}" for n in range(308, 312)),
            *(f"OD{n}" for n in range(501, 507))} <= field  # from users' threads
    assert all("#" in rules[c].docs[FIELD_SECTION] for c in field)
    assert f"## {FIELD_SECTION}" in rules["OD211"].explain()
    for rule in rules.values():
        assert re.fullmatch(r"OD\d{3}", rule.code)
        assert all(rule.docs[s] for s in DOC_SECTIONS), rule.code
        assert rule.explain().startswith(f"{rule.code} {rule.name}")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"code": "OD1"}, "code must be"),
        ({"code": "od100"}, "code must be"),
        ({"name": "Not_Kebab"}, "kebab-case"),
        ({"doc": "Summary only."}, "lacks section"),
        ({"target": "gpu"}, "target must be"),
    ],
)
def test_invalid_declarations_are_refused(kwargs, message):
    with pytest.raises(RegistryError, match=message):
        _declare(Registry(), **kwargs)


def test_duplicate_code_is_refused():
    reg = Registry()
    _declare(reg)
    with pytest.raises(RegistryError, match="already used"):
        _declare(reg, name="other-name")


def test_same_name_allowed_for_another_target_kind():
    reg = Registry()
    _declare(reg, code="XY100", name="mixed-dtypes", target="checkpoint")
    _declare(reg, code="XY200", name="mixed-dtypes", target="model")
    with pytest.raises(RegistryError, match="name mixed-dtypes"):
        _declare(reg, code="XY101", name="mixed-dtypes", target="checkpoint")


def test_a_rule_runs_on_the_other_kinds_it_names():
    """OD212 reads docTR and OnnxTR predictors: selected for both kinds, listed under both."""
    reg = Registry()
    reg.check("XY100", "page-options", Severity.WARNING, "model", also=("onnxtr",))(_documented)
    assert [r.code for r in reg.select(target="onnxtr")] == ["XY100"] == [r.code for r in reg.select(target="model")]
    assert reg.select(target="checkpoint") == []
    assert reg.rules["XY100"].explain().startswith("XY100 page-options (warning, model, onnxtr)")
    for also in (("model",), ("nowhere",)):
        with pytest.raises(RegistryError, match="also must name other target kinds"):
            reg.check("XY101", "other", Severity.WARNING, "model", also=also)(_documented)
    assert "onnxtr" in default.load().rules["OD212"].kinds


def _documented(facts):
    return []


_documented.__doc__ = DOC


@pytest.mark.parametrize(
    ("code", "select", "ignore", "expected"),
    [
        ("OD103", [], [], True),
        ("OD103", ["OD1"], [], True),
        ("OD203", ["OD1"], [], False),
        ("OD103", [], ["OD1"], False),
        ("OD103", ["OD103"], ["OD1"], True),  # the more specific prefix wins
        ("OD104", ["OD103"], ["OD1"], False),
        ("OD103", ["OD1"], ["OD1"], False),  # ignore wins a tie
        ("OD103", ["ALL"], ["OD10"], False),
    ],
)
def test_selection_by_most_specific_prefix(code, select, ignore, expected):
    assert is_enabled(code, select, ignore) is expected


def test_unknown_and_malformed_prefixes_are_errors():
    reg = default.load()
    with pytest.raises(RegistryError, match="unknown rule code"):
        reg.select(["OD999"])
    with pytest.raises(RegistryError, match="not a rule code"):
        reg.select([], ["bogus!"])


def test_three_outcomes():
    reg = Registry()

    def finds(facts):
        yield Problem("found it", location="here")

    def skips(facts):
        raise Skip("no GPU on this machine")

    def crashes(facts):
        raise ZeroDivisionError("division by zero\nsecond line")

    for code, name, func in (("XY100", "finds", finds), ("XY101", "skips", skips), ("XY102", "crashes", crashes)):
        func.__doc__ = DOC
        reg.check(code, name, Severity.WARNING, "checkpoint", fix="do x")(func)
    result = run_rules(reg.sorted_rules(), object(), target="t.pt", kind="checkpoint")
    [finding] = result.findings
    assert (finding.rule, finding.target, finding.location, finding.fix) == ("XY100", "t.pt", "here", "do x")
    assert [(s.rule, s.reason) for s in result.skipped] == [("XY101", "no GPU on this machine")]
    assert [(e.rule, e.error) for e in result.errors] == [("XY102", "ZeroDivisionError: division by zero")]


def test_a_prose_fix_has_no_applicability_whatever_the_rule_declares():
    """Where no program fits the installed versions, the fix is advice: nothing may paste it as code."""
    from ocrdoctor.core.findings import Applicability

    reg = Registry()

    def finds(facts):
        yield Problem("program", fix="print(1)")
        yield Problem("advice", fix="Run the command shown", advice=True)

    finds.__doc__ = DOC
    reg.check("XY100", "finds", Severity.WARNING, "checkpoint", applicability=Applicability.SAFE)(finds)
    result = run_rules(reg.sorted_rules(), object(), target="t.pt", kind="checkpoint")
    assert [(f.message, f.applicability) for f in result.findings] == [
        ("program", Applicability.SAFE), ("advice", None)]


def test_a_broken_plugin_is_reported_by_name_and_the_run_goes_on(monkeypatch):
    def boom():
        raise ImportError("No module named 'missing_dependency'")

    plugins = [SimpleNamespace(name="zz-broken", load=boom), SimpleNamespace(name="aa-fine", load=lambda: None)]
    monkeypatch.delenv("OCRDOCTOR_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setattr("ocrdoctor.core.registry.find_plugins", lambda: plugins)
    reg = Registry()
    monkeypatch.setattr("ocrdoctor.core.registry._BUILTIN", [])
    reg.load()
    [error] = reg.plugin_errors
    assert error.name == "zz-broken" and "missing_dependency" in error.error


def test_plugins_are_looked_up_only_where_a_distribution_declares_the_group(tmp_path, monkeypatch):
    """The pre-scan finds an entry_points.txt naming [ocrdoctor.checks] on the path, and nothing where none does."""
    from ocrdoctor.core import registry

    monkeypatch.setattr("sys.path", [str(tmp_path)])
    other = tmp_path / "other-1.0.dist-info"
    other.mkdir()
    (other / "entry_points.txt").write_text("[console_scripts]\nother = other:main\n")
    assert not registry._declared_anywhere()
    plugin = tmp_path / "team_rules-0.1.dist-info"
    plugin.mkdir()
    (plugin / "entry_points.txt").write_text("[ocrdoctor.checks]\nteam = team_rules.rules\n")
    assert registry._declared_anywhere()


def test_a_run_that_names_no_code_loads_only_its_kind():
    """Without --select/--ignore, a checkpoint run imports the checkpoint rules only; naming a code loads all."""
    import subprocess
    import sys

    code = ("import sys\nfrom ocrdoctor.core.config import Settings\nfrom ocrdoctor.core.plan import make_plan\n"
            "from ocrdoctor.core.registry import default as reg\n"
            "plan = make_plan(Settings(), ['checkpoint'])\n"
            "print(sorted({r.target for r in reg.rules.values()}), 'ocrdoctor.inspect.environment' in sys.modules)\n"
            "plan = make_plan(Settings(select=('OD3',)), ['checkpoint'])\n"
            "print(sorted({r.target for r in reg.rules.values()}), len(plan.rules['checkpoint']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "['checkpoint'] False"
    assert out[1] == "['checkpoint', 'comparison', 'environment', 'model', 'onnx', 'onnxtr'] 0"
