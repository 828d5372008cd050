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


def test_the_index_links_every_page_and_every_relative_link_resolves():
    import re

    docs = ROOT / "docs"
    index = (docs / "index.md").read_text()
    for page in docs.glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in index, page.name
    for page in [*docs.glob("*.md"), ROOT / "README.md", ROOT / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
