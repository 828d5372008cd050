"""Build docTR models and predictors from checkpoint files, the way a deployment does.

The file is read once by the torch-free reader; its weight records become torch tensors over
the file's bytes (never `torch.load`). The weights are found where the reader found them
(under "model", behind a `module.` prefix, in a pickled model's module tree, ...), a FAST model
in reparameterized form is reparameterized before loading, and loading is strict.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..anatomy.heads import head_verdict
from ..anatomy.hyperparameters import hyperparameters
from ..core.extras import Note, require_doctr
from ..core.registry import one_line
from ..core.units import count
from ..inspect.checkpoint import CheckpointFacts, facts_of, weights_of
from ..inspect.config import sidecar_path
from ..inspect.vocab import VocabError, with_vocab
from ..read.checkpoint import read_checkpoint
from ..read.file import Checkpoint
from ..specimens.models import builder_options, offline_ocr_predictor


class BuildError(Exception):
    """The model could not be built from the file; one line, for the user."""


class VocabMissing(BuildError):
    """A recognizer whose head fits no vocab the file stores or anyone named."""


@contextlib.contextmanager
def opened(source: str | Path | Checkpoint) -> Iterator[Checkpoint]:
    """A checkpoint already read (kept open), or the file at `source`, read now and closed after."""
    if isinstance(source, Checkpoint):
        yield source
        return
    with read_checkpoint(source) as ckpt:
        yield ckpt


def build_model(source: str | Path | Checkpoint, arch: str, facts: CheckpointFacts | None = None,
                any_vocab: bool = False, vocab: str | None = None) -> Any:
    """The docTR model with the file's weights, strictly loaded, in eval mode.

    The stored config is used: its vocab builds the recognition head, its mean, std and input
    shape go to the model's cfg (the predictor's pre-processor reads them). `vocab` (a docTR
    vocab's name, a file, or the characters) stands in for a stored one it must agree with. A head
    sized for a custom vocabulary with none stored or given cannot be built, unless the installed
    docTR's vocabs of that size are all one string (built with it, with a VocabChosen warning), or
    with `any_vocab` (an export or a benchmark, where only the head's size matters): a stand-in.
    """
    require_doctr("building a docTR model")
    from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

    from .materialize import MaterializeError, state_dict

    with opened(source) as ckpt:
        try:
            facts = with_vocab(facts or facts_of(ckpt, arch), vocab)
        except VocabError as exc:
            raise BuildError(str(exc)) from None
        if facts.members:
            raise BuildError(f"{ckpt.path} holds {count(len(facts.members), 'model')} "
                             f"({', '.join(m.member for m in facts.members)}): pick one with --key")
        if not facts.extractable or facts.weights is None:
            raise BuildError(f"{ckpt.path}: not loaded (see the checkpoint findings)")
        match = facts.architecture
        config = facts.config
        vocab = _vocab(ckpt.path, match, config.vocab if config else None, any_vocab, arch)
        model = empty_model(arch, match, vocab=vocab,
                            reparameterized=match is not None and match.form == "reparameterized")
        _apply_config(model, config)
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


def _vocab(path: str, match: Any, stored: str | None, any_vocab: bool, arch: str) -> str | None:
    """The vocabulary to build a recognizer with: the stored one when it fits the head."""
    if match is None or match.head != "vocab":
        return None
    if stored is not None and len(stored) == match.head_size:
        return stored
    if not match.custom_head:
        return None
    verdict = head_verdict(match, None, None)
    if verdict is not None and verdict.code == "OD117" and verdict.vocab_name:
        warnings.warn(VocabChosen(f"{path}: no vocab stored; built {arch} with docTR's {verdict.vocab_name}, the "
                                  f"installed docTR's only vocab of {match.head_size} characters (name it with "
                                  "--vocab to be sure)"), stacklevel=3)
        return verdict.vocab
    if any_vocab:
        return stand_in_vocab(match.head_size)
    raise VocabMissing(cannot_build(path, arch, match.head_size))


def cannot_build(path: str, arch: str, size: int) -> str:
    """Why a recognizer with a custom head cannot be built, and the two ways to name its vocab."""
    return (f"{path}: the head is sized for a vocab of {size} and none is stored: cannot build {arch}; name it with "
            f"--vocab (a docTR vocab, a file, or the characters) or keep it in {sidecar_path(Path(path)).name} "
            '({"vocab": "..."}) (see OD117)')


class VocabChosen(Note):
    """A recognizer was built with a vocab no one named: the installed docTR's only vocab of the head's size."""


def _apply_config(model: Any, config: Any) -> None:
    """The stored mean, std and input shape become the model's cfg, as docTR's hub loader does."""
    if config is None or not isinstance(getattr(model, "cfg", None), dict):
        return
    for key in ("mean", "std", "input_shape"):
        if getattr(config, key) is not None:
            model.cfg = {**model.cfg, key: getattr(config, key)}


def empty_model(arch: str, match: Any = None, *, vocab: str | None = None, reparameterized: bool = False) -> Any:
    """The docTR model (random weights) that a state_dict identified as `match` must load into.

    A custom head gets `vocab`, or stand-in characters / class names of the saved size: only
    the shapes matter for loading. FAST is fused when the weights are in that form.
    """
    from doctr import models

    kwargs: dict[str, Any] = {}
    if vocab is not None:
        kwargs["vocab"] = vocab
    elif match is not None and match.custom_head and match.head == "vocab":
        kwargs["vocab"] = stand_in_vocab(match.head_size)
    elif match is not None and match.custom_head and match.task == "classification":  # an orientation classifier
        kwargs["num_classes"] = match.head_size
    elif match is not None and match.custom_head:
        kwargs["class_names"] = [f"class{i}" for i in range(match.head_size)]
    if match is not None and match.mismatched and not (match.missing or match.unexpected):
        kwargs.update(hyperparameters(arch, match.mismatched) or {})  # max_length=40: what OD113 tells the team
    model = getattr(models, arch)(**builder_options(arch), **kwargs)
    if reparameterized:
        from doctr.models.detection.fast import reparameterize

        model = reparameterize(model)
    return model


def stand_in_vocab(size: int) -> str:
    """Any vocabulary of `size` distinct characters: builds a head of the right shape."""
    return "".join(chr(0x4E00 + i) for i in range(size))


def build_predictor(det: str | Path | Checkpoint | None, det_arch: str | None, reco: str | Path | Checkpoint | None,
                    reco_arch: str | None, device: str = "cpu", half: bool = False, any_vocab: bool = False,
                    vocab: str | None = None,
                    facts: tuple[CheckpointFacts | None, CheckpointFacts | None] = (None, None), **options) -> Any:
    """`ocr_predictor(det_arch=model, reco_arch=model, **options)`, moved and cast as requested; with one
    half only, docTR's `detection_predictor` or `recognition_predictor` over it (a service that only
    finds text, or only reads crops)."""
    require_doctr("building a docTR predictor")
    det_model = build_model(det, det_arch, facts[0]) if det is not None else None
    reco_model = build_model(reco, reco_arch, facts[1], any_vocab=any_vocab, vocab=vocab) if reco is not None else None
    return predictor_of(det_model, reco_model, device=device, half=half, **options)


def predictor_of(det_model: Any, reco_model: Any, device: str = "cpu", half: bool = False, **options) -> Any:
    """The predictor a deployment builds over its models (either may be None: one half's predictor)."""
    from doctr.models import detection_predictor, recognition_predictor

    if det_model is not None and reco_model is not None:
        predictor = offline_ocr_predictor(det_model, reco_model, **options)
    elif det_model is not None:
        predictor = detection_predictor(det_model, pretrained=False)
    elif reco_model is not None:
        predictor = recognition_predictor(reco_model, pretrained=False)
    else:
        raise BuildError("no model to build: give a detection or a recognition checkpoint, or both")
    try:
        predictor = predictor.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise BuildError(f"cannot move the predictor to {device}: {one_line(exc)}") from None
    return predictor.half() if half else predictor


def trained_predictor(**options) -> Any:
    """The docTR OCRPredictor of the trained pair that ships with ocrdoctor (float32, on the CPU; `options`
    go to `ocr_predictor`)."""
    from ..specimens.pair import trained_pair

    det, det_arch, reco, reco_arch = trained_pair()
    return build_predictor(det, det_arch, reco, reco_arch, **options)
