"""`compare --format html`: one self-contained page a team looks at before a model ships.

The verdict first; then per page the page image (inline JPEG, at most 1600 px on its long side) with
both sides' word boxes drawn over it in SVG: the base's in blue, the candidate's in orange, a box
only one side found filled in red, a word read differently filled in amber; each box's words on
hover. Beside it the words side by side with the changes marked, and the figures. At most
`pages` pages are drawn; the others are listed. The findings table closes the page.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from .html import document, render_html

_ADDED, _REMOVED = "background:#c8e6c9", "background:#ffcdd2"
MAX_SIDE = 1600
BASE, CANDIDATE, ONE_SIDE, CHANGED = "#1565c0", "#ef6c00", "#d50000", "#ffab00"
STYLE = """
.page{display:flex;gap:24px;align-items:flex-start;margin:24px 0;flex-wrap:wrap}
.sheet{position:relative;display:inline-block;border:1px solid #ccc}
.sheet img{display:block;max-width:800px;height:auto}
.sheet svg{position:absolute;left:0;top:0;width:100%;height:100%}
.words{max-width:640px;font-family:monospace;font-size:13px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
"""


def render_picture(comparison: Any, pages: int = 20) -> str:
    """The whole page, as a standalone HTML document."""
    return document("ocrdoctor compare", body(comparison, pages), STYLE)


def body(comparison: Any, pages: int = 20) -> str:
    """The page's content (also what a notebook shows)."""
    images = getattr(comparison, "page_images", None) or {}
    parts = [f"<h1>{escape(comparison.verdict().splitlines()[0])}</h1>"]
    parts += [f"<p>{escape(line)}</p>" for line in comparison.verdict().splitlines()[1:]]
    parts.append(_legend())
    drawn = [p for p in comparison.pages if p.comparison is not None][:pages]
    for page in drawn:
        parts.append(_page(page, images.get(page.name), comparison))
    rest = [p.name for p in comparison.pages if p not in drawn]
    if rest:
        parts.append(f"<h2>Not drawn ({len(rest)})</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in rest)
                     + "</ul>")
    if comparison.report.findings:
        parts.append(render_html(comparison.report))
    return "\n".join(parts)


def _legend() -> str:
    keys = ((BASE, "base box"), (CANDIDATE, "candidate box"), (ONE_SIDE, "found by one side only"),
            (CHANGED, "read differently"))
    return "<p class='legend'>" + "".join(f"<span style='background:{c}'></span>{escape(t)}" for c, t in keys) + "</p>"


def _page(page: Any, image: Any, comparison: Any) -> str:
    c = page.comparison
    base = _reading(comparison.base, page.name)
    cand = _reading(comparison.candidate, page.name)
    sheet = _sheet(image, base, cand) if image is not None else "<p>(no image: the base is a golden)</p>"
    left, right = _marked(c.base_text.split(), c.candidate_text.split())
    figures = f"{c.figures()}, confidence {c.confidence_change:+.3f}"
    return (f"<section><h2>{escape(page.name)}</h2><div class='page'>{sheet}<div class='words'>"
            f"<p>{escape(figures)}</p><p><b>base</b><br>{left}</p><p><b>candidate</b><br>{right}</p>"
            "</div></div></section>")


def _reading(reading: Any, name: str) -> Any:
    return next((p for p in reading.pages if p.name == name), None) if reading is not None else None


def _sheet(image: Any, base: Any, cand: Any) -> str:
    """The page image with both sides' boxes: SVG in the page's relative coordinates (0 to 1)."""
    base_words = base.words if base is not None else ()
    cand_words = cand.words if cand is not None else ()
    shapes = []
    for words, others, color, dash in ((base_words, cand_words, BASE, ""), (cand_words, base_words, CANDIDATE,
                                                                              "stroke-dasharray='0.004'")):
        for w in words:
            match = max(others, key=lambda o: iou(w.box, o.box), default=None)
            found = match is not None and iou(w.box, match.box) >= 0.5
            fill = CHANGED if found and match.text != w.text else ONE_SIDE if not found else "none"
            x0, y0, x1, y1 = w.box
            tip = w.text if not found or match.text == w.text else f"{w.text} / {match.text}"
            shapes.append(f"<rect x='{x0:.5f}' y='{y0:.5f}' width='{x1 - x0:.5f}' height='{y1 - y0:.5f}' "
                          f"fill='{fill}' fill-opacity='{0.35 if fill != 'none' else 0}' stroke='{color}' "
                          f"stroke-width='0.002' {dash}><title>{escape(tip)}</title></rect>")
    svg = ("<svg viewBox='0 0 1 1' preserveAspectRatio='none' xmlns='http://www.w3.org/2000/svg'>"
           + "".join(shapes) + "</svg>")
    return f"<div class='sheet'><img alt='page' src='data:image/jpeg;base64,{_jpeg(image)}'>{svg}</div>"


def iou(a: tuple, b: tuple) -> float:
    """Intersection over union of two relative (xmin, ymin, xmax, ymax) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _jpeg(image: Any) -> str:
    """The page as an inline JPEG, downscaled to at most MAX_SIDE pixels on its long side."""
    from PIL import Image

    img = Image.fromarray(image)
    scale = MAX_SIDE / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=85)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _marked(a: list[str], b: list[str]) -> tuple[str, str]:
    """Both word lists as HTML, words outside the longest common alignment highlighted."""
    from rapidfuzz.distance import Levenshtein

    left, right = [], []
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(a, b):
        style_a = "" if tag == "equal" else _REMOVED
        style_b = "" if tag == "equal" else _ADDED
        left += [_word(w, style_a) for w in a[i1:i2]]
        right += [_word(w, style_b) for w in b[j1:j2]]
    return " ".join(left), " ".join(right)


def _word(word: str, style: str) -> str:
    return f"<span style='{style}'>{escape(word)}</span>" if style else escape(word)
