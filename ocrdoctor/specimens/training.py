"""Files made as docTR's own training scripts make them, with a frozen random backbone.

Mirrors `references/detection/train.py` and `references/recognition/train.py` of mindee/doctr at
the v1.1.0 tag, the lines cited beside each step: the model built by name, `--freeze-backbone`
turning off `requires_grad` on `model.feat_extractor`, Adam over the trainable parameters only
(betas 0.95/0.999, eps 1e-6), `fit_one_epoch`'s loop (train mode, the script's Normalize as the
batch transform, gradient clipping at 5, a cosine schedule stepped per batch), and
`torch.save(params.state_dict(), ...)`. The one change: `pretrained_backbone=False`, what an
offline machine (or a backbone download that failed) leaves behind. A few batches of rendered
pages at 256 px (detection) and 32 x 128 crops (recognition): seconds, never a real training.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np

DET_MEAN, DET_STD = (0.798, 0.785, 0.772), (0.264, 0.2749, 0.287)  # detection/train.py:331
RECO_MEAN, RECO_STD = (0.694, 0.695, 0.693), (0.299, 0.296, 0.301)  # recognition/train.py:307


def _page(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A white page with a few dark word-shaped bars, and their relative boxes (docTR's targets)."""
    rng = np.random.default_rng(seed)
    page = np.ones((3, size, size), dtype=np.float32)
    boxes = []
    for _ in range(4):
        x0, y0 = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.85)
        x1, y1 = x0 + rng.uniform(0.1, 0.3), y0 + rng.uniform(0.04, 0.08)
        page[:, int(y0 * size): int(y1 * size), int(x0 * size): int(x1 * size)] = 0.1
        boxes.append((x0, y0, x1, y1))
    return page, np.asarray(boxes, dtype=np.float32)


def _crop(word: str, seed: int) -> np.ndarray:
    """A 32 x 128 crop with one dark stroke per character: enough for a CTC loss to compute."""
    rng = np.random.default_rng(seed)
    crop = np.ones((3, 32, 128), dtype=np.float32) * rng.uniform(0.8, 1.0)
    for i in range(len(word)):
        crop[:, 8:24, 8 + 14 * i: 16 + 14 * i] = 0.1
    return crop


def _word(vocab: str, i: int) -> str:
    """A word of 3 to 6 characters of the vocab (the training labels a script reads from its dataset)."""
    return "".join(vocab[(7 * i + 3 * k) % len(vocab)] for k in range(3 + i % 4))


def _fit(model, batches, loss_of, lr: float = 1e-3) -> None:
    """`fit_one_epoch` (detection/train.py:128, recognition/train.py:113) over the given batches."""
    import torch
    from torch.optim.lr_scheduler import CosineAnnealingLR

    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr,  # train.py:475 / :446
                                 betas=(0.95, 0.999), eps=1e-6, weight_decay=0)
    scheduler = CosineAnnealingLR(optimizer, len(batches), eta_min=lr / 25e4)  # train.py:499 / :470
    model.train()
    for images, targets in batches:
        optimizer.zero_grad()
        loss = loss_of(model, images, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
        optimizer.step()
        scheduler.step()


def _freeze_backbone(model) -> None:
    """`--freeze-backbone` (detection/train.py:462, recognition/train.py:318)."""
    for p in model.feat_extractor.parameters():
        p.requires_grad = False


def detector(arch: str = "db_mobilenet_v3_large", batches: int = 2, freeze: bool = True) -> Any:
    """One short epoch of references/detection/train.py, in eval mode; the script saves its
    `state_dict()` (train.py:605). Each call gets its own copy of a model trained once."""
    return copy.deepcopy(_detector(arch, batches, freeze))


def recognizer(arch: str = "crnn_mobilenet_v3_small", vocab: str = "french", batches: int = 4,
               freeze: bool = True) -> Any:
    """One short epoch of references/recognition/train.py, in eval mode; the script saves its
    `state_dict()` (train.py:590). Each call gets its own copy of a model trained once."""
    return copy.deepcopy(_recognizer(arch, vocab, batches, freeze))


@functools.lru_cache(maxsize=4)
def _detector(arch: str, batches: int, freeze: bool) -> Any:
    import torch
    from doctr.models import detection
    from torchvision.transforms.v2 import Normalize

    torch.manual_seed(0)
    model = detection.__dict__[arch](pretrained=False, pretrained_backbone=False)  # train.py:334
    if freeze:
        _freeze_backbone(model)
    normalize = Normalize(mean=DET_MEAN, std=DET_STD)
    data = []
    for b in range(batches):
        pages = [_page(256, seed=2 * b + i) for i in range(2)]
        images = normalize(torch.from_numpy(np.stack([p for p, _ in pages])))
        data.append((images, [{"words": boxes} for _, boxes in pages]))  # convert_to_multiclass_targets
    _fit(model, data, lambda m, x, t: m(x, t)["loss"])
    return model.eval()


@functools.lru_cache(maxsize=4)
def _recognizer(arch: str, vocab: str, batches: int, freeze: bool) -> Any:
    import torch
    from doctr.datasets import VOCABS
    from doctr.models import recognition
    from torchvision.transforms.v2 import Normalize

    torch.manual_seed(0)
    model = recognition.__dict__[arch](pretrained=False, pretrained_backbone=False, vocab=VOCABS[vocab])  # :310
    if freeze:
        _freeze_backbone(model)
    normalize = Normalize(mean=RECO_MEAN, std=RECO_STD)
    data = []
    for b in range(batches):
        words = [_word(model.vocab, 4 * b + i) for i in range(4)]
        crops = np.stack([_crop(w, seed=10 * b + i) for i, w in enumerate(words)])
        data.append((normalize(torch.from_numpy(crops)), words))
    _fit(model, data, lambda m, x, t: m(x, t)["loss"])
    return model.eval()
