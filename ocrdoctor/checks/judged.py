"""OD126: a judgement the user asked for that the run could not make is an error, never an all-clear.

The run (core/plan.py) runs it on a target it could not build (its facts: core.engine.NotJudged),
whenever the selection holds a rule of that target's kind, even a selection that leaves OD126
out; on any other target's facts it is silent.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.engine import NotJudged
from ..core.findings import Problem, Severity
from ..core.registry import check
from . import examples as ex


def _unbuilt() -> NotJudged:
    return NotJudged("reco.pt as crnn_mobilenet_v3_small",
                     "reco.pt: the head is sized for a vocab of 99 and none is stored: cannot build "
                     "crnn_mobilenet_v3_small; name it with --vocab (a docTR vocab, a file, or the characters) or "
                     'keep it in reco.config.json ({"vocab": "..."}) (see OD117)',
                     "OD117 explains it: check again with --vocab, or store the vocab beside the weights in "
                     "<stem>.config.json")


@check(
    "OD126", "not-judged", Severity.ERROR, "model", also=("onnxtr",),
    bad=[ex.FactsExample(_unbuilt, "custom-vocab-not-given")],
    good=[ex.model("trained-model", ex.tiny_net)],
)
def not_judged(facts) -> Iterator[Problem]:
    """A model the user asked to be judged could not be built, so no model rule looked at it.

    What it detects:
        `ocrdoctor check FILE --arch NAME`, or one half of a deployment (`--det/--det-arch`,
        `--reco/--reco-arch`), names a model that cannot be built from the file: a recognition head
        sized for a custom vocab that is not stored, keys that reveal another hyperparameter, a
        missing extra. Raised whenever the selection holds a rule of that target's kind; only
        `--ignore OD126` or a severity override turns it off.
    Why it matters:
        Without it the model rules are skipped and the run says nothing is wrong: a CI gate at
        `--fail-on error` would pass a model no model rule looked at. The file's own rules still
        ran (OD117 often says why); the other half of a deployment is still built and checked.
    Fix:
        What the message names: name the vocab with `--vocab` (a docTR vocab, a file, or the
        characters; `ocrdoctor rules --vocabs` lists docTR's), or store it in `<stem>.config.json` beside the weights
        (`{"vocab": "...", "arch": "..."}`, the keys docTR's `from_hub` reads), install the
        missing extra, or name the architecture the file was trained as.
    Example:
        A `crnn_mobilenet_v3_small` trained with a vocab of 99 characters, saved as
        `torch.save(model.state_dict(), "reco.pt")`, checked with `--arch crnn_mobilenet_v3_small`.
    """
    if isinstance(facts, NotJudged):
        yield Problem(f"not judged: {facts.reason}" + (f"; {facts.hint}" if facts.hint else ""))
