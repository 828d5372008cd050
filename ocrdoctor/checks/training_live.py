"""Rules on how much a live model was trained, block by block (OD213, OD214): OD127's and OD128's evidence read
from the loaded module's parameters (checks/training.py). A wholly untrained component is OD210's.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..anatomy.training import FROZEN_FIX, SHORT_FIX, frozen, frozen_message, short_message
from ..core.findings import Problem, Severity
from ..core.registry import check
from ..inspect.model import ModelFacts
from ..specimens import training as scripts
from . import examples as ex


@check(
    "OD213", "untrained-block-live", Severity.ERROR, "model",
    fix=FROZEN_FIX,
    bad=[ex.model("docTR-script-frozen-random-backbone", scripts.recognizer)],
    good=[ex.model("trained-predictor", ex.ocr_predictor), ex.model("no-norm-layers", lambda: ex.torch_linear()),
          ex.model("fresh-predictor", lambda: ex.ocr_predictor(trained=False))],
)
def untrained_block_live(facts: ModelFacts) -> Iterator[Problem]:
    """A live model with a block that was never trained: OD127's evidence, on the loaded model.

    What it detects:
        The same exact evidence as OD127, read from the module's parameters: a block whose
        every norm layer is at weight 1, bias 0 under trained parts. A wholly untrained
        component is OD210's.
    Why it matters:
        The predictor reads nothing, with no error: a frozen random backbone under a trained head.
    Fix:
        Load the trained weights of the whole model, or retrain the block.
    Example:
        `recognition_predictor(model)` with the model a docTR script trained with
        `--freeze-backbone` and no pretrained backbone.
    """
    for c in facts.components:
        if c.untrained is None:
            for block in frozen(c.trained):
                yield Problem(f"the {c.role} model ({c.cls}): {frozen_message(block)}",
                              location=f"{c.path}.{block.name}")


@check(
    "OD214", "barely-trained-live", Severity.WARNING, "model",
    fix=SHORT_FIX,
    bad=[ex.model("docTR-script-two-batches", scripts.detector), ex.model("two-adamw-steps", ex.briefly_trained)],
    good=[ex.model("trained-predictor", ex.ocr_predictor), ex.model("no-norm-layers", lambda: ex.torch_linear()),
          ex.model("fresh-predictor", lambda: ex.ocr_predictor(trained=False))],
)
def barely_trained_live(facts: ModelFacts) -> Iterator[Problem]:
    """A live model trained for only a handful of batches: OD128's evidence, on the loaded model.

    What it detects:
        Every BatchNorm layer of a component counted between 1 and 99 batches and no norm
        layer moved more than 0.05 from its initialization. A wholly untrained component is OD210's.
    Why it matters:
        An early or smoke-test checkpoint loaded into the service reads little or nothing.
    Fix:
        Load the finished training's weights.
    Example:
        A predictor built on the first epoch's file of a two-batch run.
    """
    for c in facts.components:
        batches = c.trained.barely() if c.untrained is None and c.trained is not None else None
        if batches is not None:
            yield Problem(f"the {c.role} model ({c.cls}) was {short_message(batches)}", location=c.path)

