"""`compare --repeat N`: from 2 runs, each side's time per page is a median with its fastest and slowest run,
and a difference inside the runs' spread is "no measurable difference", never a ratio; 1 run shows no time."""

from __future__ import annotations

import json

import pytest

from ocrdoctor.core.timing import Spread, milliseconds, speed_change
from ocrdoctor.inspect.reading import PageReading, Reading, Word

WORDS = (Word("abc", (0.1, 0.1, 0.2, 0.2), 0.9), Word("12", (0.3, 0.1, 0.4, 0.2), 0.8))


def test_a_change_inside_the_spread_is_no_measurable_difference():
    assert speed_change(Spread(0.9, 1.0, 1.1), Spread(0.85, 0.95, 1.05)).startswith("no measurable difference (")
    assert speed_change(Spread(0.9, 1.0, 1.1), Spread(0.45, 0.5, 0.55)) == "2.00x faster (1.64x-2.44x over the runs)"
    assert speed_change(Spread(0.45, 0.5, 0.55), Spread(0.9, 1.0, 1.1)) == "2.00x slower (1.64x-2.44x over the runs)"
    assert milliseconds(Spread(0.34, 0.352, 0.36)) == "352 ms (340-360)"


def _reading(label: str, spread: Spread | None, runs: int) -> Reading:
    seconds = spread.median if spread else 0.4
    return Reading(label, (PageReading("page-1.png", "ab" * 32, WORDS, seconds, spread, runs),))


def _judged(base: Reading, candidate: Reading):
    pytest.importorskip("rapidfuzz")  # the word alignment (installed with docTR)
    from ocrdoctor.core.config import Settings
    from ocrdoctor.inspect.comparison import Tolerance
    from ocrdoctor.run.plan import plan_for
    from ocrdoctor.treat.compare import judge

    return judge(plan_for(Settings(), ("comparison",)), base, candidate, Tolerance())


def test_timed_readings_show_both_medians_with_their_spread_per_page_and_in_total():
    result = _judged(_reading("base", Spread(0.9, 1.0, 1.1), 3), _reading("candidate", Spread(0.45, 0.5, 0.55), 3))
    page = result.pages[0].summary()
    assert page["reading"].endswith("time 1000 ms (900-1100) -> 500 ms (450-550): 2.00x faster (1.64x-2.44x over "
                                    "the runs)")
    assert page["seconds_per_page_range"] == {"base": [0.9, 1.1], "candidate": [0.45, 0.55]}
    assert page["seconds_per_page"] == {"base": 1.0, "candidate": 0.5}
    assert "time per page (median of 3 runs, averaged over 1 page): 1000 ms (900-1100) -> 500 ms (450-550): " \
           "2.00x faster" in result.verdict()
    noisy = _judged(_reading("base", Spread(0.5, 1.0, 1.5), 3), _reading("candidate", Spread(0.45, 0.5, 0.9), 3))
    assert "no measurable difference" in noisy.verdict() and "faster" not in noisy.verdict()


def test_one_run_or_a_golden_base_shows_no_time():
    for base, candidate in ((_reading("base", None, 1), _reading("candidate", None, 1)),
                            (_reading("golden", None, 1), _reading("candidate", Spread(0.4, 0.5, 0.6), 3))):
        result = _judged(base, candidate)
        assert " ms" not in result.verdict() and "time" not in result.pages[0].summary()["reading"]
        assert "seconds_per_page_range" not in result.pages[0].summary()


def test_a_repeat_outside_1_to_100_is_a_usage_error():
    from ocrdoctor.treat.compare import CompareError, repeats

    assert repeats(3) == 3
    for bad in (0, 101, 2.5, True, "3"):
        with pytest.raises(CompareError, match="repeat must be a whole number from 1 to 100"):
            repeats(bad)


@pytest.mark.slow
def test_compare_repeat_times_each_page_on_the_command_line_and_in_the_picture(tmp_path):
    pytest.importorskip("doctr")
    from conftest import run

    from ocrdoctor.specimens.pair import sample_pages, trained_pair

    det, det_arch, reco, reco_arch = trained_pair()
    base = ["compare", sample_pages()[0], "--det", det, "--det-arch", det_arch, "--reco", reco, "--reco-arch",
            reco_arch, "--candidate-dtype", "float64", "--repeat", "2"]
    text = run(*base)
    assert text.exit_code == 0, text.stderr
    assert "time per page (median of 2 runs, averaged over 1 page): " in text.stdout and " ms (" in text.stdout
    assert "over the runs)" in text.stdout
    out = run(*base, "--format", "json")
    facts = json.loads(out.stdout)["targets"][0]["facts"]
    low, high = facts["seconds_per_page_range"]["candidate"]
    assert 0 < low <= facts["seconds_per_page"]["candidate"] <= high
    page = run(*base, "--format", "html", "-o", tmp_path / "compare.html")
    assert page.exit_code == 0 and "over the runs)" in (tmp_path / "compare.html").read_text()
    assert run(*base[:-1], "0").exit_code == 2
