"""A comparison in a notebook: both readings of each page side by side, differing words highlighted."""

from __future__ import annotations

from html import escape
from typing import Any

from .html import render_html

_ADDED, _REMOVED = "background:#c8e6c9", "background:#ffcdd2"


def render_comparison_html(comparison: Any) -> str:
    """The verdict, one row per page (base words | candidate words | figures), then the findings table."""
    rows = []
    for page in comparison.pages:
        c = page.comparison
        if c is None:
            rows.append(f"<tr><td>{escape(page.name)}</td><td colspan='3'>read by one side only "
                        f"({escape(page.only_in or '')})</td></tr>")
            continue
        base, cand = _marked(c.base_text.split(), c.candidate_text.split())
        rows.append(f"<tr><td>{escape(page.name)}</td><td>{base}</td><td>{cand}</td>"
                    f"<td>{c.same}/{c.words} words<br>CER {c.cer:.3f}<br>boxes {c.base_boxes_found:.0%}/"
                    f"{c.candidate_boxes_found:.0%}</td></tr>")
    head = "<tr><th>page</th><th>base</th><th>candidate</th><th>figures</th></tr>"
    table = (f"<table class='ocrdoctor-compare' style='text-align:left'><caption style='text-align:left'>"
             f"{escape(comparison.verdict())}</caption><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>\n")
    return table + (render_html(comparison.report) if comparison.report.findings else "")


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
