"""Docs generated from the rules stay current, and the README starts with the two commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocrdoctor.render.rulesdoc import render_rules

ROOT = Path(__file__).resolve().parents[1]


def test_rules_page_is_current():
    """On failure: ocrdoctor rules --format markdown --builtin-only > docs/rules.md"""
    assert (ROOT / "docs" / "rules.md").read_text() == render_rules("markdown", builtin_only=True)


def test_readme_opens_with_install_and_test_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert block == ['pip install ".[doctr]" && ocrdoctor demo', 'pip install ".[test]" && python -m pytest']
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(command in ci for command in block)  # CI runs the README's commands as written


def test_notebook_example_is_current():
    """On failure: python docs/notebook_example.py"""
    import importlib.util

    pytest.importorskip("doctr")  # the example builds a real predictor

    spec = importlib.util.spec_from_file_location("notebook_example", ROOT / "docs" / "notebook_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "notebook.md").read_text()
    html = module.example_html()
    assert "<code>OD207</code>" in html and "<code>OD203</code>" in html
    assert module.updated(page, html) == page
