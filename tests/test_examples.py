"""The console examples of `compare`, `bench` and the demo are what a run prints: tools/examples.py writes
them from real runs, and here (slow lane) every example's command runs again and its lines, times taken out,
must equal the page's. The fast tests keep the tool honest: a changed count or word is a difference."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("ocrdoctor_tools_examples", ROOT / "tools" / "examples.py")
examples = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)  # dataclasses look their module up
_spec.loader.exec_module(examples)

LADDER = "+ float32                              1.92       522    521-528      4.45x    4.82x    150/150"
STAGE = "as given                  19       1099         13          4        399      1478    1428-1658    50.0"


@pytest.mark.parametrize("example", examples.EXAMPLES, ids=lambda e: e.name)
def test_every_example_has_its_block_and_shows_the_command_it_runs(example):
    command, lines = examples.documented(example)
    assert command == " ".join(example.command.split()) and lines


def test_times_are_not_facts_but_words_counts_and_boxes_are():
    facts = examples.facts
    assert facts([LADDER]) == facts([LADDER.replace("1.92       522    521-528      4.45x    4.82x",
                                                   "2.70       371    366-396      4.97x~   4.97x")])
    assert facts([LADDER]) == ["+ float32 [times] 150/150"]
    assert facts([LADDER]) != facts([LADDER.replace("150/150", "149/150 !")])
    assert facts([STAGE]) == ["as given [times] 50.0"] != facts([STAGE.replace("50.0", "48.3")])
    assert facts(["reads the same on 3 pages: 150/150 words"]) != facts(["reads the same on 3 pages: 149/150 words"])
    timed = "time per page (median of 3 runs, averaged over 3 pages): 404 ms (395-425) -> 371 ms (362-390): "
    assert facts([timed + "1.09x faster (1.01x-1.17x over the runs)"]) == \
        facts([timed.replace("404", "398") + "no measurable difference (0.88x-1.27x over the runs)"])
    assert facts([timed]) != facts([timed.replace("median of 3", "median of 5")])
    latency = ("latency, batch of 2, median of 5: onnxruntime 524 ms (CPUExecutionProvider), PyTorch eager 2910 ms: "
               "5.55x the speed of eager (3.01x-8.52x over the runs)")
    assert facts([latency]) == facts([latency.replace("524", "611").replace("5.55x the speed of eager",
                                                                               "no measurable difference")])
    assert facts([latency]) != facts([latency.replace("CPUExecutionProvider", "CUDAExecutionProvider")])
    parity = "compared on 2 sample pages: largest difference 1.26e-05 in logits (largest value 7.5; tolerance 1e-04"
    assert facts([parity]) == facts([parity.replace("1.26e-05", "9.1e-06")]) != facts([parity.replace("2 ", "3 ")])
    assert facts(["~ no measurable change (the runs' spread includes 1.00x): not counted in the total"]) == []


def test_a_long_command_is_continued_and_read_back_as_one():
    [example] = [e for e in examples.EXAMPLES if e.name == "readme-compare"]
    lines = examples.wrapped(example.command)
    assert len(lines) > 1 and all(len(x) <= examples.WIDTH + 2 for x in lines)
    assert all(x.endswith(" \\") for x in lines[:-1]) and lines[1].startswith("      --")
    page = f"<!-- example: {example.name} -->\n```console\n```\n"
    written = examples.rewritten(page, example, ["a line"])
    start, end = examples._block(written, example.name)
    assert written[start:end].splitlines()[-1] == "a line"


def test_a_page_that_says_something_a_run_does_not_is_a_difference(monkeypatch, tmp_path):
    [example] = [e for e in examples.EXAMPLES if e.name == "compare-guide"]
    _, lines = examples.documented(example)
    assert examples.differences(example, lines) == []
    changed = [x.replace("150/150", "149/150") for x in lines]
    assert any("149/150" in x for x in examples.differences(example, changed))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("doctr")
    pytest.importorskip("onnxruntime")  # the README's compare runs an ONNX export of the recognizer
    return examples.Runs(tmp_path_factory.mktemp("examples"))


@pytest.mark.slow
@pytest.mark.parametrize("example", examples.EXAMPLES, ids=lambda e: e.name)
def test_the_example_is_what_a_run_prints_but_for_its_times(runs, example):
    """On failure: python tools/examples.py (then read the diff: a changed fact is a change in behaviour)."""
    diff = examples.differences(example, runs.shown(example))
    assert diff == [], "\n".join(diff)
