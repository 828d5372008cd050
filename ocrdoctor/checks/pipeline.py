"""OD215 and OD216: the pipeline around a live predictor's weights, judged against the architecture and the
release: the detection post-processor's thresholds, and docTR features a release is known to break."""

from __future__ import annotations

from collections.abc import Iterator

from ..core.findings import Applicability, Problem, Severity
from ..core.registry import check
from ..inspect.model import ModelFacts
from ..inspect.pipeline import known_bad
from . import examples as ex

NUMERICS = Applicability.CHANGES_NUMERICS
EFFECTS = {
    ("bin_thresh", True): "fewer pixels count as text: boxes shrink and faint words are lost",
    ("bin_thresh", False): "more pixels count as text: boxes grow and neighbouring words merge",
    ("box_thresh", True): "boxes of lower confidence are dropped: words are missed",
    ("box_thresh", False): "boxes of lower confidence are kept: more false boxes",
    ("unclip_ratio", True): "boxes are expanded more: too large, neighbouring words merge",
    ("unclip_ratio", False): "boxes are expanded less: too tight, characters cut at their edges",
}


@check(
    "OD215", "postprocessing-drift", Severity.INFO, "model",
    applicability=NUMERICS,
    bad=[ex.model("bin-thresh-raised", lambda: ex.detector_with_postprocessing(bin_thresh=0.5)),
         ex.model("unclip-ratio-raised", lambda: ex.detector_with_postprocessing(unclip_ratio=2.5))],
    good=[ex.model("architecture-values", ex.detector_with_postprocessing),
          ex.model("as-trained", lambda: ex.detector_with_postprocessing(bin_thresh=0.5, cfg={"bin_thresh": 0.5}))],
)
def postprocessing_drift(facts: ModelFacts) -> Iterator[Problem]:
    """The detection post-processor's thresholds differ from the architecture's.

    What it detects:
        A detection model whose post-processor's `bin_thresh`, `box_thresh` or `unclip_ratio`
        differs from what the installed docTR gives its architecture (a fresh post-processor of
        the same class: DBNet 0.3 / 0.1 / 1.5, FAST 0.1 / 0.1 / 1.0, LinkNet 0.1 / 0.1 / 1.5 in
        docTR 1.1). Each changed value is named with the architecture's and its effect. A value
        equal to a training config stored in the model's cfg is not reported.
    Why it matters:
        The weights are right and the boxes are not: a higher unclip ratio or a lower binary
        threshold draws boxes too large and merges neighbouring words; a higher box threshold
        drops words. A tuning left from one document set silently costs accuracy on the next.
    Fix:
        Set the value back on the post-processor (the printed statements); if the change was
        deliberate, measure it first on the team's pages with `ocrdoctor compare`.
    Example:
        `predictor.det_predictor.model.postprocessor.unclip_ratio = 2.5` after a test on one scan.
    Seen in the field:
        Boxes too large and words merged after changing them: mindee/doctr#1983, mindee/doctr#1622.
    """
    for c in facts.components:
        post = c.postprocessing
        if post is None:
            continue
        changed = [k for k, v in post.values.items() if v != post.defaults[k] and post.trained.get(k) != v]
        if changed:
            parts = [f"{k} {post.values[k]:g} (the architecture's {post.defaults[k]:g}: "
                     f"{EFFECTS[k, post.values[k] > post.defaults[k]]})" for k in changed]
            yield Problem(f"the {c.role} post-processor ({post.arch}) has {'; '.join(parts)}", location=post.path,
                          fix="\n".join(f"{post.path}.{k} = {post.defaults[k]:g}" for k in changed))


@check(
    "OD216", "known-bad-release", Severity.WARNING, "model",
    fix='pip install "python-doctr>=FIXED" (the release the message names), or leave the feature off',
    bad=[ex.model("straighten-pages-on-0.9", lambda: ex.ocr_predictor(straighten_pages=True), doctr_release=(0, 9, 0))],
    good=[ex.model("straighten-pages-on-1.1", lambda: ex.ocr_predictor(straighten_pages=True),
                   doctr_release=(1, 1, 0)),
          ex.model("no-feature-on-0.9", ex.ocr_predictor, doctr_release=(0, 9, 0))],
)
def known_bad_release(facts: ModelFacts) -> Iterator[Problem]:
    """The installed docTR has a confirmed bug in a feature this predictor uses.

    What it detects:
        A predictor using a feature (`straighten_pages`, a `torch.compile`d model) under a docTR
        release that a row of `ocrdoctor/data/known_bad_releases.json` says breaks it: each row
        names the feature, what goes wrong, the first release that fixes it, and the thread and
        PR that confirm it. Rows cover the releases ocrdoctor supports (0.7 to 1.1).
    Why it matters:
        The predictor runs and the output is wrong, or the deployment fails on the server only;
        the fix is a release the team may not know exists.
    Fix:
        Upgrade docTR to the fixed release the message names, or turn the feature off.
    Example:
        `ocr_predictor(..., straighten_pages=True)` on docTR 0.9 with business cards scanned sideways.
    Seen in the field:
        `straighten_pages` boxes on wide rotated pages: mindee/doctr#1691 (fixed by PR #1697 in
        0.10.0); a compiled model refused: mindee/doctr#1819 (PR #1791, 0.11.0).
    """
    if not facts.doctr_release:
        return
    for row in known_bad():
        if row.feature in facts.features and facts.doctr_release < row.fixed:
            installed = ".".join(map(str, facts.doctr_release))
            yield Problem(f"docTR {installed} with {row.feature}: {row.bad} ({row.thread}; fixed by {row.fix} in "
                          f"{row.fixed_text})", location=facts.root,
                          fix=f'pip install "python-doctr>={row.fixed_text}"', advice=True)
