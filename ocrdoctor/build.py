"""Build docTR models and predictors from checkpoint files, the way a deployment does.

The file is read once by the torch-free reader; its weight records become torch tensors over
the file's bytes (never `torch.load`). The weights are found where the reader found them
(under "model", behind a `module.` prefix, in a pickled model's module tree, ...), a FAST model
in reparameterized form is reparameterized before loading, and loading is strict.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from .inspect.checkpoint import CheckpointFacts, facts_of, stored_value, weights_of
from .read.checkpoint import Checkpoint, read_checkpoint
from .registry import one_line

DOCTR_EXTRA = 'pip install "ocrdoctor[doctr]"'


class BuildError(Exception):
    """The model could not be built from the file; one line, for the user."""


class MissingExtra(BuildError):
    """torch / docTR are not installed: the command needs the `doctr` extra."""


def require_doctr(what: str, modules: tuple[str, ...] = ("torch", "doctr")) -> None:
    """Raise MissingExtra, naming the install command, unless `modules` (torch and docTR) are installed."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        names = " and ".join("docTR" if m == "doctr" else m for m in missing)
        raise MissingExtra(f"{what} needs {names}: {DOCTR_EXTRA}")


@contextlib.contextmanager
def opened(source: str | Path | Checkpoint) -> Iterator[Checkpoint]:
    """A checkpoint already read (kept open), or the file at `source`, read now and closed after."""
    if isinstance(source, Checkpoint):
        yield source
        return
    with read_checkpoint(source) as ckpt:
        yield ckpt


def build_model(source: str | Path | Checkpoint, arch: str, facts: CheckpointFacts | None = None,
                any_vocab: bool = False) -> Any:
    """The docTR model with the file's weights, strictly loaded, in eval mode.

    A recognition head sized for a custom vocabulary takes the file's `vocab` entry; with
    `any_vocab` (an export, where only the head's size matters) a stand-in of that size.
    """
    require_doctr("building a docTR model")
    from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

    from .materialize import MaterializeError, state_dict

    with opened(source) as ckpt:
        facts = facts or facts_of(ckpt, arch)
        if facts.unsafe or facts.weights is None or (facts.problem and not facts.weights):
            raise BuildError(f"{ckpt.path}: not loaded (see the checkpoint findings)")
        match = facts.architecture
        vocab = _vocab(ckpt, match, any_vocab, arch)
        model = empty_model(arch, match, vocab=vocab,
                            reparameterized=match is not None and match.form == "reparameterized")
        try:
            state = state_dict(ckpt, weights_of(ckpt, facts))
        except MaterializeError as exc:
            raise BuildError(f"{ckpt.path}: {exc}") from None
        for prefix in (match.prefix.rstrip(".").split(".") if match and match.prefix else ()):
            consume_prefix_in_state_dict_if_present(state, f"{prefix}.")
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise BuildError(f"{ckpt.path}: does not load into {arch}: {one_line(exc)}") from None
    return model.eval()


def _vocab(ckpt: Checkpoint, match: Any, any_vocab: bool, arch: str) -> str | None:
    if match is None or not match.custom_head:
        return None
    vocab = stored_value(ckpt, "vocab")
    if any_vocab and match.head == "vocab" and not (isinstance(vocab, str) and len(vocab) == match.head_size):
        vocab = stand_in_vocab(match.head_size)
    if match.head != "vocab" or not isinstance(vocab, str) or len(vocab) != match.head_size:
        raise BuildError(f"{ckpt.path}: the head is sized for {match.head_size} {match.head}; "
                         f"cannot build {arch} without it (see OD113)")
    return vocab


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


def build_predictor(det: str | Path | Checkpoint, det_arch: str, reco: str | Path | Checkpoint, reco_arch: str,
                    device: str = "cpu", half: bool = False, any_vocab: bool = False,
                    facts: tuple[CheckpointFacts | None, CheckpointFacts | None] = (None, None)) -> Any:
    """`ocr_predictor(det_arch=model, reco_arch=model)`, moved and cast as requested."""
    require_doctr("building a docTR predictor")
    from doctr import models

    predictor = models.ocr_predictor(det_arch=build_model(det, det_arch, facts[0]),
                                     reco_arch=build_model(reco, reco_arch, facts[1], any_vocab=any_vocab),
                                     pretrained=False)
    try:
        predictor = predictor.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise BuildError(f"cannot move the predictor to {device}: {one_line(exc)}") from None
    return predictor.half() if half else predictor
