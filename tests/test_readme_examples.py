"""The README's console examples for `check` and `fix` are what a real run on the demo's files prints (the files
`ocrdoctor demo --out DIR` writes), and its list of formats is the format registry: the docs cannot drift."""

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


@pytest.mark.slow
def test_the_compare_examples_figures_are_a_real_run():
    """README.md and docs/compare.md show the pair on its samples: their figures are what a run prints."""
    pytest.importorskip("doctr")
    from ocrdoctor.specimens.pair import trained_pair

    det, det_arch, reco, reco_arch = trained_pair()
    real = run("compare", "--det", det, "--det-arch", det_arch, "--reco", reco, "--reco-arch", reco_arch,
               "--candidate-dtype", "float64").stdout.splitlines()
    guide = (Path(__file__).resolve().parent.parent / "docs" / "compare.md").read_text()
    for text in (README, guide):
        block = text.split("$ ocrdoctor compare ", 1)[1].split("```", 1)[0].splitlines()
        figures = [x for x in block if x.startswith(("reads the same", "the base: ", "No problems found"))]
        assert len(figures) == 3 and all(x in real for x in figures), figures
    page = next(x for x in guide.splitlines() if x.startswith(".../samples/page-1.png"))
    assert any(x.endswith(page.removeprefix("...")) for x in real)
