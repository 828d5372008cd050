"""Evidence of how much a model was trained, block by block (OD127, OD128, OD213, OD214).

A block is a top-level child of the model (docTR's `feat_extractor`, `fpn`, `prob_head`,
`decoder`, ...). Two exact signs, read from the same leaves as OD116's verdict:

- a block whose every norm layer still has weight exactly 1 and bias exactly 0 while training
  ran (another block's norm layers moved, or the block's own BatchNorm statistics counted more
  batches than a constructor runs): the block never got a gradient step. With docTR's scripts
  that is `--freeze-backbone` on a backbone that was never loaded (`pretrained_backbone=False`,
  or a download that failed). A frozen block in train mode still updates its statistics, so
  they are not required to be fresh.
- every BatchNorm layer that counts batches counted between 1 and 99, and no norm layer moved
  more than a short run moves it (`num_batches_tracked` alone is never enough: a model
  recalibrated on a few batches after training has a small count and weights far from init).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ..core.units import count
from .untrained import DUMMY_BATCHES, Leaf, is_norm

REAL_TRAINING = 100  # batches: the shipped pair counted 700 (detection) and 4501 (recognition)
SHORT_RUN_MOVE = 0.05  # the furthest a short run moves a norm layer's affine parameters (the pair's: up to 0.8)
MIN_NORMS = 2  # a block judged on one norm layer could be a layer training never reached


class Block(NamedTuple):
    name: str  # the top-level child: "feat_extractor"
    norms: int  # norm layers (affine weight and bias)
    at_init: int  # of those, still exactly at weight 1 and bias 0
    batches: int  # the most batches any of its BatchNorm layers counted (0 without a count)

    @property
    def untouched(self) -> bool:
        return self.norms >= MIN_NORMS and self.at_init == self.norms


class Training(NamedTuple):
    blocks: tuple[Block, ...]
    tracked: tuple[int, ...]  # every BatchNorm layer's num_batches_tracked
    moved: float | None  # the furthest any norm layer's affine parameters moved from (1, 0); None: unknown

    def frozen(self) -> tuple[Block, ...]:
        """Blocks still exactly at their initialization while training ran around or through them."""
        moved_elsewhere = {b.name for b in self.blocks if b.at_init < b.norms}
        return tuple(b for b in self.blocks if b.untouched
                     and (b.batches > DUMMY_BATCHES or moved_elsewhere - {b.name}))

    def barely(self) -> int | None:
        """The most batches counted when every count says a short run and the weights agree, else None."""
        if not self.tracked or not all(1 <= n < REAL_TRAINING for n in self.tracked):
            return None
        if self.moved is None or self.moved >= SHORT_RUN_MOVE:
            return None
        return max(self.tracked)


def training(leaves: Mapping[str, Leaf], prefix: str = "") -> Training | None:
    """The per-block evidence of a state_dict's leaves (keys under `prefix`), or None without norm layers."""
    blocks: dict[str, list[int]] = {}  # name -> [norms, at_init, batches]
    tracked: list[int] = []
    moved: float | None = 0.0
    for name, leaf in leaves.items():
        if not name.startswith(prefix):
            continue
        local = name[len(prefix):]
        block = blocks.setdefault(local.split(".", 1)[0], [0, 0, 0])
        if local.endswith(".num_batches_tracked") and leaf.constant is not None:
            tracked.append(int(leaf.constant))
            block[2] = max(block[2], int(leaf.constant))
        elif local.endswith(".bias") and is_norm(leaves, name[:-5]):
            block[0] += 1
            weight, bias = leaves[name[:-5] + ".weight"], leaf
            block[1] += weight.constant == 1.0 and bias.constant == 0.0
            distance = _distance(weight, bias)
            moved = None if moved is None or distance is None else max(moved, distance)
    found = tuple(Block(name, *counts) for name, counts in blocks.items() if counts[0])
    return Training(found, tuple(tracked), moved) if found else None


def _distance(weight: Leaf, bias: Leaf) -> float | None:
    """How far a norm layer's affine parameters are from weight 1 and bias 0 (None without their range)."""
    ends = (weight.minimum, weight.maximum, bias.minimum, bias.maximum)
    if any(e is None for e in ends):
        return None
    return max(abs(ends[0] - 1), abs(ends[1] - 1), abs(ends[2]), abs(ends[3]))


CAUSES = {
    "feat_extractor": "a frozen random backbone: the feature extractor was frozen (`--freeze-backbone` in docTR's "
                      "training scripts, or requires_grad=False) on a model built without its pretrained backbone "
                      "(pretrained_backbone=False, an offline machine, or a backbone download that failed)",
}
OTHER_CAUSE = "the block was frozen (requires_grad=False) or left out of the optimizer, and never trained"


def cause(block: str) -> str:
    return CAUSES.get(block, OTHER_CAUSE)


FROZEN_FIX = ("Train the block: load its pretrained weights before freezing it (pretrained_backbone=True with a "
              "reachable docTR cache, or model.feat_extractor.load_state_dict(...)), or train without "
              "--freeze-backbone; then save model.state_dict() again")
SHORT_FIX = ("Train for real before shipping (the shipped docTR models counted thousands of batches), or load the "
             "trained checkpoint instead of an early one")


def frozen(found: Training | None) -> tuple[Block, ...]:
    return found.frozen() if found is not None else ()


def frozen_message(block: Block) -> str:
    batches = f"; its statistics counted {count(block.batches, 'batch', 'batches')}" if block.batches else ""
    return (f"block `{block.name}` was never trained: all {block.norms} norm layers still at exactly weight 1, bias 0, "
            f"though the model was trained{batches}. Likely cause: {cause(block.name)}")


def short_message(batches: int) -> str:
    return (f"trained for a handful of batches only: every BatchNorm layer counted at most "
            f"{count(batches, 'batch', 'batches')} (real training counts {REAL_TRAINING} and more) and no norm layer "
            "moved far from its initialization")
