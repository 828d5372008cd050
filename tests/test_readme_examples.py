"""The README's console examples for `check` and `fix` are what a real run on the demo's files prints (the files
`ocrdoctor demo --out DIR` writes), and its list of formats is the format registry: the docs cannot drift.
(Those of `compare`, `bench` and the demo: tests/test_examples.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def console(command: str) -> list[str]:
    """The lines a README console block prints after `$ COMMAND` (up to the block's end)."""
    block = README.split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    return block.rstrip("\n").splitlines()


def test_the_readme_lists_every_format_there_is():
    import ocrdoctor.render  # noqa: F401  the renderers register their formats
    from ocrdoctor.core.formats import format_names

    listed = re.search(r"`--format ([a-z|]+)`, `--output FILE`", README).group(1).split("|")
    assert listed == list(format_names())


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    pytest.importorskip("doctr")
    from ocrdoctor.cli.demo import write_demo_checkpoint

    folder = tmp_path_factory.mktemp("readme")
    return write_demo_checkpoint(folder)


def test_the_check_example_is_a_real_run(demo_files, monkeypatch):
    monkeypatch.chdir(demo_files.parent)
    real = run("check", demo_files.name).stdout.splitlines()
    shown = console(f"ocrdoctor check {demo_files.name}")
    findings = [x for x in shown if re.match(r"  OD\d{3} ", x) or x.startswith(("  fix for", "      at:", "Found"))]
    assert findings == [x for x in real if re.match(r"  OD\d{3} ", x) or x.startswith(("  fix for", "      at:",
                                                                                          "Found"))]
    assert shown[0] == real[0]  # the header line: format, size, architecture


def test_the_fix_example_is_a_real_run(demo_files, monkeypatch):
    monkeypatch.chdir(demo_files.parent)
    real = run("fix", demo_files.name, "-o", "det_weights.pt", "--force").stdout.splitlines()
    assert console(f"ocrdoctor fix {demo_files.name} -o det_weights.pt") == real
