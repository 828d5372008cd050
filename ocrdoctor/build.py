"""Build docTR models and predictors from checkpoint files, the way a deployment does.

Only files the checkpoint inspector read safely are loaded, again weights-only; the weights
are found where the inspector found them (under "model", behind a `module.` prefix, ...),
a FAST model in reparameterized form is reparameterized before loading, and loading is strict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .inspect.checkpoint import CheckpointFacts, inspect_checkpoint
from .registry import one_line


class BuildError(Exception):
    """The model could not be built from the file; one line, for the user."""


def build_model(path: str | Path, arch: str, facts: CheckpointFacts | None = None, any_vocab: bool = False) -> Any:
    """The docTR model with the file's weights, strictly loaded, in eval mode.

    A recognition head sized for a custom vocabulary takes the file's `vocab` entry; with
    `any_vocab` (an export, where only the head's size matters) a stand-in of that size.
    """
    import torch
    from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

    facts = facts or inspect_checkpoint(path, arch)
    if facts.problem or facts.unsafe_globals or facts.pickled_module or facts.weights_path is None:
        raise BuildError(f"{path}: not loaded (see the checkpoint findings)")
    match = facts.architecture
    vocab = None
    if match is not None and match.custom_head:
        vocab = _entry_value(path, facts, "vocab")
        if any_vocab and match.head == "vocab" and not (isinstance(vocab, str) and len(vocab) == match.head_size):
            vocab = stand_in_vocab(match.head_size)
        if match.head != "vocab" or not isinstance(vocab, str) or len(vocab) != match.head_size:
            raise BuildError(f"{path}: the head is sized for {match.head_size} {match.head}; "
                             f"cannot build {arch} without it (see OD113)")
    model = empty_model(arch, match, vocab=vocab, reparameterized=match is not None and match.form == "reparameterized")
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=facts.format == "zip")
    for key in facts.weights_path:
        state = state[key]
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for prefix in (match.prefix.rstrip(".").split(".") if match and match.prefix else ()):
        consume_prefix_in_state_dict_if_present(state, f"{prefix}.")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BuildError(f"{path}: does not load into {arch}: {one_line(exc)}") from None
    return model.eval()


def empty_model(arch: str, match: Any = None, *, vocab: str | None = None, reparameterized: bool = False) -> Any:
    """The docTR model (random weights) that a state_dict identified as `match` must load into.

    A custom head gets `vocab`, or stand-in characters / class names of the saved size: only
    the shapes matter for loading. FAST is fused when the weights are in that form.
    """
    from doctr import models

    kwargs: dict[str, Any] = {}
    if match is not None and match.custom_head and match.head == "vocab":
        kwargs["vocab"] = vocab or stand_in_vocab(match.head_size)
    elif match is not None and match.custom_head:
        kwargs["class_names"] = [f"class{i}" for i in range(match.head_size)]
    model = getattr(models, arch)(pretrained=False, pretrained_backbone=False, **kwargs)
    if reparameterized:
        from doctr.models.detection.fast import reparameterize

        model = reparameterize(model)
    return model


def stand_in_vocab(size: int) -> str:
    """Any vocabulary of `size` distinct characters: builds a head of the right shape."""
    return "".join(chr(0x4E00 + i) for i in range(size))


def _entry_value(path, facts: CheckpointFacts, key: str):
    if not any(e.key == key for e in facts.entries):
        return None
    import torch

    return torch.load(path, map_location="cpu", weights_only=True).get(key)


def build_predictor(det: str | Path, det_arch: str, reco: str | Path, reco_arch: str,
                    device: str = "cpu", half: bool = False, any_vocab: bool = False) -> Any:
    """`ocr_predictor(det_arch=model, reco_arch=model)`, moved and cast as requested."""
    from doctr import models

    predictor = models.ocr_predictor(det_arch=build_model(det, det_arch),
                                     reco_arch=build_model(reco, reco_arch, any_vocab=any_vocab), pretrained=False)
    try:
        predictor = predictor.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise BuildError(f"cannot move the predictor to {device}: {one_line(exc)}") from None
    return predictor.half() if half else predictor
