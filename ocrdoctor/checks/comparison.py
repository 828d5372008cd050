"""OD6xx: two readings of the same pages compared (`ocrdoctor compare`, `ocrdoctor.compare`).

The evidence is a reading: both deployments (or a deployment and a golden) read the same pages
through docTR's own pre- and post-processing, and the words and boxes are compared page by page.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.findings import Problem, Severity, Skip
from ..core.registry import check
from ..inspect.comparison import PageFacts
from . import examples as ex


def _compared(facts: PageFacts):
    if facts.comparison is None:
        raise Skip("the page was read by one side only (see OD603)")
    return facts.comparison


@check(
    "OD601", "text-changed", Severity.ERROR, "comparison",
    bad=[ex.page_facts("one-word-changed", "invoice 2024 total 17", "invoice 2024 tota1 17"),
         ex.page_facts("word-lost", "a1 b2 c3", "a1 c3"),
         ex.page_facts("beyond-wer-tolerance", "a1 b2 c3 d4", "a1 b2 c3 d5", max_cer=0.2, max_wer=0.2)],
    good=[ex.page_facts("same-words", "invoice 2024 total 17", "invoice 2024 total 17"),
          ex.page_facts("within-tolerance", "a1 b2 c3 d4 e5", "a1 b2 c3 d4 e6", max_cer=0.2, max_wer=0.2)],
)
def text_changed(facts: PageFacts) -> Iterator[Problem]:
    """The candidate reads other words than the base (or the golden) on a page, beyond the tolerance.

    What it detects:
        The words read on a page differ: a character error rate (edit distance over the page's
        text) above `--max-cer`, or a word error rate above `--max-wer` (both 0 by default: any
        changed word). The message quotes the first changed, lost and added words; the JSON facts
        hold them all, with each side's text.
    Why it matters:
        A change that makes a model fast can change what it reads: `.half()` corrupted
        crnn_vgg16_bn's output (docTR PR #2111), SAR and MASTER break in float16 (docTR #1441),
        OnnxTR read differently from docTR until its resize was aligned (OnnxTR #76), and the same
        weights gave other output after docTR upgrades (docTR #2065, #2079). Logits that agree to
        1e-4 are evidence; the same words on the same pages are proof.
    Fix:
        Keep the base (float32, the old export or release) or accept the change knowingly: raise
        `--max-cer`/`--max-wer` to what the application tolerates, or save a new golden with
        `--save-golden` once the new reading is checked by a person.
    Example:
        A float16 recognizer reads "tota1" where the float32 one read "total".
    Seen in the field:
        mindee/doctr PR #2111; mindee/doctr #1441, #2065, #2079; felixdittrich92/OnnxTR #76.
    """
    c = _compared(facts)
    t = facts.tolerance
    if c.cer > t.max_cer or c.wer > t.max_wer:
        against = "the golden" if facts.golden else "the base"
        yield Problem(
            f"{c.words - c.same} of {c.words} words read differently from {against} (CER {c.cer:.3f} > "
            f"{t.max_cer:g} or WER {c.wer:.3f} > {t.max_wer:g}): {c.diff()}",
            location=facts.name,
        )


@check(
    "OD602", "boxes-changed", Severity.ERROR, "comparison",
    bad=[ex.page_facts("boxes-moved", "a1 b2 c3", "a1 b2 c3", shift=0.04),
         ex.page_facts("box-lost", "a1 b2 c3 d4", "a1 b2 c3")],
    good=[ex.page_facts("same-boxes", "a1 b2 c3", "a1 b2 c3"),
          ex.page_facts("a-pixel-off", "a1 b2 c3", "a1 b2 c3", shift=0.002),
          ex.page_facts("loss-within-tolerance", "a1 b2 c3 d4", "a1 b2 c3", min_box_recall=0.7)],
)
def boxes_changed(facts: PageFacts) -> Iterator[Problem]:
    """The candidate finds other word boxes than the base on a page (recall at IoU 0.5, either way).

    What it detects:
        The share of the base's word boxes that some candidate box overlaps at IoU 0.5 or more,
        and the share of the candidate's boxes the base has, below `--min-box-recall` (0.98 by
        default). The first number falls when words are lost, the second when boxes appear.
    Why it matters:
        Detection decides what recognition reads: a box lost is a word lost, a box split or
        merged is a word read wrong, and text-level tolerances do not see a box that moved
        onto the wrong line until the layout (key-value extraction, tables) breaks.
    Fix:
        Keep the base detection model (or its float32 form), or re-export from the checkpoint
        with `ocrdoctor export`; compare again on the team's own pages.
    Example:
        A float16 DBNet whose probability map crosses the binarization threshold in other
        places: 94% of the base's boxes found.
    """
    c = _compared(facts)
    worst = min(c.base_boxes_found, c.candidate_boxes_found)
    if worst < facts.tolerance.min_box_recall:
        yield Problem(
            f"boxes found at IoU 0.5: {c.base_boxes_found:.1%} of the base's by the candidate, "
            f"{c.candidate_boxes_found:.1%} of the candidate's by the base "
            f"(below {facts.tolerance.min_box_recall:.0%})",
            location=facts.name,
        )


@check(
    "OD603", "pages-differ", Severity.WARNING, "comparison",
    bad=[ex.page_facts("not-in-golden", "", "", golden="golden.json", only_in="pages"),
         ex.page_facts("golden-page-not-given", "", "", golden="golden.json", only_in="golden")],
    good=[ex.page_facts("same-page", "a1 b2", "a1 b2", golden="golden.json")],
)
def pages_differ(facts: PageFacts) -> Iterator[Problem]:
    """The golden was recorded on other pages than those given.

    What it detects:
        A page given to `ocrdoctor compare --golden` whose content (SHA-256) the golden did not
        record, or a page the golden recorded that was not given. Pages are matched by content,
        not by name, so a moved folder still matches.
    Why it matters:
        A comparison proves the reading only on the pages both sides read: a page set that
        drifted away from the golden's makes the gate pass on fewer pages than it claims.
    Fix:
        Give the golden's pages (the names are in the golden file), or record a new golden on
        the current pages with `ocrdoctor compare PAGES... --save-golden golden.json` from the
        deployment that is known to read well.
    Example:
        The CI page set gained `invoice-7.png` after the golden was saved.
    """
    if facts.only_in == "pages":
        yield Problem(f"not recorded in {facts.golden}: this page was not compared (record a new golden with "
                      f"--save-golden from the deployment known to read well)", location=facts.name)
    elif facts.only_in == "golden":
        yield Problem(f"recorded in {facts.golden} but not given: this page was not compared", location=facts.name)
