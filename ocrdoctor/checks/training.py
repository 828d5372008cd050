"""Rules on how much a checkpoint's model was trained, block by block (OD127, OD128); the live model's are in
checks/training_live.py (OD213, OD214). Both read anatomy/training.py's evidence from the same leaves, so a
file and the model loaded from it get the same verdict. Precedence: OD116 (every layer at init) over these.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..anatomy.training import FROZEN_FIX, SHORT_FIX, frozen, frozen_message, short_message
from ..core.findings import Problem, Severity
from ..core.registry import check
from ..core.units import count
from ..inspect.checkpoint import CheckpointFacts
from ..specimens import training as scripts
from . import examples as ex

# Silent on both rules: models that look trained, and a wholly untrained one (OD116's verdict).
TRAINED_LOOKING = [ex.saved(ex.tiny_state_dict, "trained"),
                   ex.saved(lambda: ex.doctr_state_dict("db_mobilenet_v3_large"), "trained-looking-det"),
                   ex.saved(lambda: ex.doctr_state_dict("crnn_mobilenet_v3_small", trained=False),
                            "fresh-docTR-model")]


@check(
    "OD127", "untrained-block", Severity.ERROR, "checkpoint",
    values=True, fix=FROZEN_FIX,
    bad=[ex.saved(lambda: scripts.detector().state_dict(), "docTR-script-frozen-random-backbone-det"),
         ex.saved(lambda: scripts.recognizer().state_dict(), "docTR-script-frozen-random-backbone-reco")],
    good=[*TRAINED_LOOKING,
          ex.saved(lambda: scripts.detector(freeze=False).state_dict(), "docTR-script-nothing-frozen")],
)
def untrained_block(facts: CheckpointFacts) -> Iterator[Problem]:
    """Part of the model was never trained: a block still exactly at its initialization.

    What it detects:
        A block (a top-level child: docTR's `feat_extractor`, `fpn`, `prob_head`, `decoder`)
        whose every norm layer still has its affine weight at exactly 1 and bias at exactly 0,
        while training ran: other blocks' norm layers moved, or the block's own BatchNorm
        statistics counted more batches than a constructor runs (a frozen block in train mode
        still updates its statistics). At least two norm layers make a block's verdict. A
        wholly untrained model is OD116's, never this one's.
    Why it matters:
        A frozen random backbone feeds noise to the trained head: the model loads, runs and
        reads nothing. docTR's reference scripts, run with `--freeze-backbone` on a model whose
        backbone was never loaded (offline, a failed download, `pretrained_backbone=False`),
        give 0% recall and 0% exact match, and save the file without a word of warning.
    Fix:
        Load the backbone's pretrained weights before freezing it, or train without
        `--freeze-backbone`; then save the state_dict again.
    Example:
        `references/recognition/train.py crnn_mobilenet_v3_small --freeze-backbone` on an offline
        machine: `feat_extractor`'s 34 norm layers at weight 1, bias 0, their statistics at 5 batches.
    """
    for block in frozen(facts.training):
        yield Problem(frozen_message(block), location=block.name)


@check(
    "OD128", "barely-trained", Severity.WARNING, "checkpoint",
    values=True, fix=SHORT_FIX,
    bad=[ex.saved(lambda: scripts.detector().state_dict(), "docTR-script-two-batches"),
         ex.saved(lambda: ex.briefly_trained().state_dict(), "two-adamw-steps")],
    good=[*TRAINED_LOOKING,
          ex.saved(ex.fresh_batchnorm_state_dict, "statistics-reset-after-training")],
)
def barely_trained(facts: CheckpointFacts) -> Iterator[Problem]:
    """A model trained for only a handful of batches.

    What it detects:
        Every BatchNorm layer's `num_batches_tracked` between 1 and 99, and no norm layer's
        affine parameters more than 0.05 from weight 1 / bias 0 (the weights agree: a model
        whose statistics were recalibrated on a few batches after training has moved far). The
        shipped pair counted 700 (detection) and 4501 (recognition) batches. A wholly untrained
        model is OD116's.
    Why it matters:
        An early checkpoint, a run that stopped after its first epoch on a tiny set, or a
        `--max-steps` left from a smoke test: the file loads and runs, and reads little or
        nothing, with no error.
    Fix:
        Ship the checkpoint of the finished training, or train for real.
    Example:
        `references/detection/train.py` run one epoch on two batches: `num_batches_tracked` 2.
    """
    if facts.untrained is not None:
        return  # OD116: the whole model is at its initialization
    batches = facts.training.barely() if facts.training is not None else None
    if batches is not None:
        yield Problem(short_message(batches), location=count(len(facts.training.tracked), "BatchNorm layer"))
