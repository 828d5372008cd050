"""`compare --format html`: the page as a picture. Its structure is tested in Python; then a real browser
(Debian's chromium-headless-shell, or chromium) renders it and the screenshot's pixels are checked: not blank,
the page image where the HTML puts it, and a box drawn over the word the HTML says changed."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("rapidfuzz")

from ocrdoctor.core.config import Settings  # noqa: E402
from ocrdoctor.inspect.comparison import Tolerance, compare_readings  # noqa: E402
from ocrdoctor.inspect.reading import PageReading, Reading, Word  # noqa: E402
from ocrdoctor.render.picture import MAX_SIDE, render_picture  # noqa: E402
from ocrdoctor.run.plan import plan_for  # noqa: E402
from ocrdoctor.treat.compare import Comparison  # noqa: E402

GREEN = (0, 160, 0)
HELLO, WORLD, ONLY = (0.10, 0.10, 0.40, 0.20), (0.50, 0.10, 0.80, 0.20), (0.10, 0.50, 0.60, 0.70)


def comparison(size=(1000, 800), pages: int = 1) -> Comparison:
    """Both sides read "hello" alike, "world" differently; the base alone finds a third word."""
    names = [f"p{i}.png" for i in range(pages)]
    base = Reading("base", tuple(PageReading(n, n, (Word("hello", HELLO, 0.9), Word("world", WORLD, 0.9),
                                                    Word("alone", ONLY, 0.8))) for n in names))
    cand = Reading("candidate", tuple(PageReading(n, n, (Word("hello", HELLO, 0.9), Word("w0rld", WORLD, 0.7)))
                                      for n in names))
    facts = compare_readings(base, cand, Tolerance())
    report = plan_for(Settings(), ("comparison",)).check_gathered("comparison", facts)
    image = np.zeros((*size, 3), dtype=np.uint8)
    image[:] = GREEN
    return Comparison(report, base, cand, tuple(facts), page_images={n: image for n in names})


def test_the_page_draws_every_box_of_both_sides_and_marks_what_differs():
    html = render_picture(comparison())
    assert html.startswith("<!DOCTYPE html>") and html.index("<h1>reads differently") < html.index("<svg")
    rects = re.findall(r"<rect [^>]*><title>([^<]*)</title>", html)
    assert sorted(rects) == sorted(["hello", "world / w0rld", "alone", "hello", "w0rld / world"])
    assert "fill='#ffab00' fill-opacity='0.35'" in re.search(r"<rect[^>]*><title>world / w0rld", html).group(0)
    assert "fill='#d50000'" in re.search(r"<rect[^>]*><title>alone<", html).group(0)
    assert "fill-opacity='0'" in re.search(r"<rect[^>]*><title>hello<", html).group(0)
    assert "OD601" in html  # the findings close the page


def test_a_large_page_is_downscaled_and_pages_beyond_the_limit_are_listed():
    from PIL import Image

    html = render_picture(comparison(size=(3200, 2400), pages=3), pages=2)
    [first, *_] = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html)
    assert max(Image.open(io.BytesIO(base64.b64decode(first))).size) == MAX_SIDE
    assert html.count("<img ") == 2 and "Not drawn (1)" in html and "<li>p2.png</li>" in html


def _browser() -> str | None:
    return next((b for b in ("chromium-headless-shell", "chromium", "chromium-browser") if shutil.which(b)), None)


@pytest.mark.skipif(_browser() is None, reason="no chromium-headless-shell or chromium on PATH (.ci/run installs "
                                               "Debian's chromium-headless-shell)")
def test_a_real_browser_shows_the_page_and_the_boxes_where_the_html_puts_them(tmp_path):
    from PIL import Image

    page = tmp_path / "compare.html"
    page.write_text(render_picture(comparison()))
    shot = tmp_path / "shot.png"
    subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.std() > 10  # not blank
    green = (pixels[..., 1] > 120) & (pixels[..., 0] < 40) & (pixels[..., 2] < 40)
    ys, xs = np.nonzero(green)
    assert len(ys) > 10000, "the page image is not on the screenshot"
    top, left, height, width = ys.min(), xs.min(), ys.max() - ys.min(), xs.max() - xs.min()
    assert abs(width / height - 800 / 1000) < 0.05  # the page, drawn at its own aspect ratio

    def at(box):
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return pixels[int(top + y * height), int(left + x * width)]

    assert at(WORLD)[0] > 60  # amber over green: the word read differently, where its box is
    assert at(ONLY)[0] > 40 and at(ONLY)[1] < 140  # red over green: found by the base alone
    assert at(HELLO)[0] < 40  # read alike: no fill


def test_compare_writes_the_picture_with_output_and_draws_the_pairs_boxes(tmp_path):
    pytest.importorskip("doctr")
    from conftest import run

    from ocrdoctor.specimens.pair import sample_pages, trained_pair

    det, det_arch, reco, reco_arch = trained_pair()
    out = tmp_path / "compare.html"
    args = ["compare", sample_pages()[0], "--det", det, "--det-arch", det_arch, "--reco", reco, "--reco-arch",
            reco_arch, "--candidate-dtype", "float64", "--format", "html", "-o", out]
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    html = out.read_text()
    words = len(re.findall(r"<rect ", html)) // 2
    assert words > 50 and "reads the same on 1 page" in html and html.count("<img ") == 1
    assert "fill-opacity='0.35'" not in html  # nothing differs: no box filled
    assert run(*args).exit_code == 2  # an existing report is replaced only with --force
    assert run(*args, "--force").exit_code == 0
