"""OD1xx rules over each model's architecture: which docTR architecture and release it fits, its head.

The verdicts on a recognition head follow the table "One recognition head, one verdict" (see
ocrdoctor/heads.py): one head gets one finding, and OD113 never reports a difference the vocab
explains. Pure functions of the facts and the committed signature tables.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..anatomy.architectures import identify
from ..anatomy.heads import Verdict, head_verdict, layout_drift
from ..anatomy.hyperparameters import constructor, hyperparameters
from ..core.findings import Applicability, Problem, Severity, Skip
from ..core.registry import check
from ..core.units import count, listing
from ..inspect.checkpoint import CheckpointFacts
from . import examples as ex
from .programs import file_applicability, file_command, file_program, weights_program

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS


def _doctr(arch: str, label: str, **kw):
    """A docTR checkpoint; a callable keyword argument is called when the example is written, so loading
    the rules computes nothing."""
    return ex.saved(lambda: ex.doctr_state_dict(arch, **{k: v() if callable(v) else v for k, v in kw.items()}), label)


def _identified(facts: CheckpointFacts):
    facts.require_weights()
    match = facts.architecture
    if match is None or not match.identified:
        raise Skip("architecture unknown (pass --arch NAME)")
    return match


@check(
    "OD112", "unknown-architecture", Severity.INFO, "checkpoint",
    fix="Pass --arch NAME to check the file against a docTR architecture (ocrdoctor rules --archs lists them)",
    bad=[ex.saved(ex.tiny_state_dict, "not-doctr")],
    good=[_doctr("db_mobilenet_v3_large", "db_mobilenet_v3_large"),
          _doctr("crnn_mobilenet_v3_small", "crnn-custom-vocab", vocab="0123456789"),
          ex.saved(ex.lightning_doctr_checkpoint, "lightning-prefix")],
)
def unknown_architecture(facts: CheckpointFacts) -> Iterator[Problem]:
    """The keys match no docTR architecture; architecture checks are skipped.

    What it detects:
        A state_dict whose keys and shapes match none of docTR's detection, recognition or
        orientation classification architectures (of any release from 0.7) closely enough,
        even after stripping wrapper prefixes and one prefix all keys share (Lightning's
        `model.`); the report names the closest one. A file named as one shard of several
        (`model-00001-of-00003.safetensors`) holds part of a model and is not matched alone:
        its shard index (`*.safetensors.index.json`, `*.bin.index.json`) joins the shards
        into the model that is checked.
    Why it matters:
        OD113, OD114 and the vocabulary checks cannot run, so a missing layer or an
        unreparameterized FAST model goes unnoticed. It also means docTR's builders will not
        load the file as it is.
    Fix:
        Pass `--arch NAME` to check the file against the architecture it should be.
    Example:
        A checkpoint of a model that is not from docTR.
    """
    facts.require_weights()
    if facts.shard and not facts.requested_arch:
        i, n = facts.shard
        raise Skip(f"shard {i} of {n}: part of a model; check its index (*.index.json) to check the model")
    match = facts.architecture
    if match is None or not match.identified:
        closest = f" (closest: {match.arch}, {match.score:.0%} of keys)" if match and match.score >= 0.1 else ""
        yield Problem(f"the keys match no docTR architecture{closest}; OD113, OD114 and the vocab checks were skipped")


@check(
    "OD113", "architecture-mismatch", Severity.ERROR, "checkpoint",
    bad=[
        ex.Example(_doctr("db_mobilenet_v3_large", "x").write, "detector-as-recognizer",
                   arch="crnn_mobilenet_v3_small"),
        ex.Example(_doctr("parseq", "x", max_length=40).write, "parseq-max-length-40", arch="parseq"),
        ex.saved(lambda: {k: v for k,
                          v in ex.doctr_state_dict("db_mobilenet_v3_large").items() if "prob_head" not in k},
                 "missing-head"),
    ],
    good=[
        ex.Example(_doctr("db_mobilenet_v3_large", "x").write, "requested-and-matching", arch="db_mobilenet_v3_large"),
        _doctr("crnn_mobilenet_v3_small", "custom-vocab-unrequested", vocab="0123456789"),
        ex.Example(ex.saved(lambda: {"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"),
                                     "vocab": "0123456789"}, "x").write, "stored-vocab-requested",
                   arch="crnn_mobilenet_v3_small"),
        ex.Example(_doctr("crnn_mobilenet_v3_small", "x", vocab="0123456789").write, "vocab-10-vs-default",
                   arch="crnn_mobilenet_v3_small"),
    ],
)
def architecture_mismatch(facts: CheckpointFacts) -> Iterator[Problem]:
    """The weights do not fit the identified or requested docTR architecture.

    What it detects:
        Missing or unexpected keys, or tensors of the wrong shape, against the architecture
        named with `--arch` or identified from the keys, in any docTR release the table knows.
        A recognition head of another size is not a mismatch: the vocabulary checks (OD117,
        OD118, OD119) give its one verdict. Weights that fit another release's layout are
        OD119. The verdict is the same under `check`, `check --arch`, `check --det/--reco`
        and `ocrdoctor export`.
    Why it matters:
        `load_state_dict` raises on the server; with `strict=False` the missing layers keep
        their random initial values and the model silently outputs garbage.
        A shape mismatch that is a constructor argument (PARSeq's `pos_queries` and MASTER's
        positional encoding hold `max_length` positions) names the argument and its value.
    Fix:
        Load it into the architecture it was trained as (the message names the one it looks
        like), or re-export the weights so the keys match; for a hyperparameter, build the model
        with the value the message prints (`parseq(..., max_length=40)`).
    Example:
        A detector's weights given as `--reco` of a deployment.
    Seen in the field:
        A PARSeq trained with `max_length=40` reported as not fitting PARSeq: mindee/doctr#1478.
    """
    weights = facts.require_weights()
    match = facts.architecture
    if match is None or not match.identified:
        raise Skip("architecture unknown (pass --arch NAME)")
    if not match.fits:
        yield _key_mismatch(match, weights)


def _key_mismatch(match, weights) -> Problem:
    values = None if match.missing or match.unexpected else hyperparameters(match.arch, match.mismatched)
    if values:
        k, saved, expected = match.mismatched[0]
        args = ", ".join(f"{name}={v}" for name, v in values.items())
        return Problem(f"{match.arch} was trained with {args}, not its default: {k} is {list(saved)} where the "
                       f"default model has {list(expected)}; build it with {match.arch}(..., {args})",
                       location=listing([m[0] for m in match.mismatched], 5),
                       fix=constructor(match.arch, values), advice=True)
    parts = []
    if match.missing:
        parts.append(f"{count(len(match.missing), 'key')} missing ({listing(match.missing, 2)})")
    if match.unexpected:
        parts.append(f"{len(match.unexpected)} unexpected ({listing(match.unexpected, 2)})")
    if match.mismatched:
        k, saved, expected = match.mismatched[0]
        parts.append(f"{len(match.mismatched)} of the wrong shape ({k}: {list(saved)} vs {list(expected)})")
    hint = ""
    if match.requested:
        guess = identify({t.name: t.shape for t in weights})
        if guess and guess.identified and guess.arch != match.arch:
            hint = f"; it looks like {guess.arch}"
    return Problem(
        f"does not fit {match.arch}: " + ", ".join(parts) + hint,
        location=listing(list(match.missing) + list(match.unexpected) + [m[0] for m in match.mismatched], 5),
        fix=f"Load it into the architecture it was trained as{' (' + hint[2:] + ')' if hint else ''}, "
            "or retrain / re-export so the saved keys match",
    )


@check(
    "OD114", "unreparameterized-fast", Severity.WARNING, "checkpoint",
    applicability=NUMERICS,
    bad=[_doctr("fast_tiny", "fast-training-form")],
    good=[ex.saved(lambda: ex.reparameterized_fast("fast_tiny"), "fast-reparameterized")],
)
def unreparameterized_fast(facts: CheckpointFacts) -> Iterator[Problem]:
    """A FAST detector saved in its multi-branch training form.

    What it detects:
        A FAST (`fast_tiny`, `fast_small`, `fast_base`) state_dict with the separate
        3x3, 1x3, 3x1 and BatchNorm branches of training, not the fused convolutions.
    Why it matters:
        docTR reparameterizes FAST only when the predictor is built from an architecture
        name; a predictor built from your model object runs every branch, noticeably slower.
    Fix:
        `ocrdoctor fix` reparameterizes it; the printed program does the same with docTR's
        `reparameterize(model)`. Build the model and reparameterize it again before loading
        the new file.
    Example:
        `torch.save(fast_base(pretrained=False).state_dict(), path)` after training.
    """
    match = _identified(facts)
    if match.arch.startswith("fast") and match.form == "training":
        program = file_program(facts)
        yield Problem(
            f"{match.arch} in its multi-branch training form: predictors built from this model run unfused branches",
            fix=program or "Run the command shown: it reparameterizes the model",
            applicability=file_applicability(facts), advice=program is None,
            command=file_command(facts),
        )


def _head(facts: CheckpointFacts) -> Verdict | None:
    match = _identified(facts)
    config = facts.config
    return head_verdict(match, config.vocab if config else None, config.source if config else None)


def _build_program(facts: CheckpointFacts, vocab: str, name: str | None) -> str | None:
    """Build the architecture with the vocab the head was trained with, and load the weights."""
    program = weights_program(facts)
    match = facts.architecture
    if program is None or match is None:
        return None
    literal = f'VOCABS["{name}"]' if name else repr(vocab)
    first, *lines = program.splitlines()[:-1]  # `path = ...`, then everything but the save
    head = [f"from doctr.models import {match.arch}"] + (["from doctr.datasets import VOCABS"] if name else [])
    return "\n".join([first] + head + lines
                     + [f"model = {match.arch}(pretrained=False, pretrained_backbone=False, vocab={literal})",
                                     "model.load_state_dict(sd, strict=True)"])


@check(
    "OD117", "vocab-not-stored", Severity.WARNING, "checkpoint",
    fix="Keep the vocab beside the weights: <stem>.config.json holding arch, vocab and input_shape (what docTR's "
        "loaders read), or in the file's own config; `ocrdoctor fix` keeps a stored one",
    bad=[_doctr("crnn_mobilenet_v3_small", "custom-vocab", vocab="0123456789"),
         _doctr("parseq", "docTR-vocab-sized-head", vocab=lambda: ex.release_vocab("parseq"))],
    good=[_doctr("crnn_mobilenet_v3_small", "default-vocab"),
          ex.saved(lambda: {"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"),
                            "vocab": "0123456789"}, "vocab-stored")],
)
def vocab_not_stored(facts: CheckpointFacts) -> Iterator[Problem]:
    """A recognition head not sized for the architecture's default vocab, and no vocab stored.

    What it detects:
        A docTR recognizer whose head was built for another vocabulary than its default one,
        with no `vocab` in the file, its config entries or a config file beside it. The
        message names the installed docTR's vocabularies of that size, or says it is custom.
    Why it matters:
        The deployment must rebuild the model with exactly the training vocabulary: when it
        lives only in a training script the two drift, and a vocabulary of the same size but
        another order decodes wrong without any error (docTR reordered `vietnamese` in 0.10,
        mindee/doctr#1693).
    Fix:
        Keep the vocab beside the weights in `<stem>.config.json` (`{"arch": ..., "vocab": ...,
        "input_shape": ...}`, the keys docTR's hub loader reads), so the file stays a plain state_dict
        that `model.load_state_dict(torch.load(path))` and `model.from_pretrained(path)` take. Where the
        installed docTR has exactly one vocab of the head's size, the printed program builds the model
        with it, loads the weights strictly and writes both files (`review`: is it the vocab the model
        was trained with?); `ocrdoctor fix` keeps a stored vocab.
    Example:
        `torch.save(crnn_vgg16_bn(vocab=VOCABS["digits"]).state_dict(), path)`
    """
    verdict = _head(facts)
    if verdict is not None and verdict.code == "OD117":
        program = file_program(facts) if verdict.vocab_name else None
        yield Problem(verdict.message, location=f"head of {facts.architecture.head_outputs} outputs",
                      fix=program, applicability=file_applicability(facts) if program else None,
                      command=file_command(facts) if program else None)


@check(
    "OD118", "vocab-length-mismatch", Severity.ERROR, "checkpoint",
    fix="Store the vocab the model was trained with (the head's size says how many characters it has)",
    bad=[ex.saved(lambda: {"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"),
                           "vocab": "0123456789abc"}, "vocab-too-long")],
    good=[ex.saved(lambda: {"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789"),
                            "vocab": "0123456789"}, "vocab-fits")],
)
def vocab_length_mismatch(facts: CheckpointFacts) -> Iterator[Problem]:
    """A stored vocab whose length does not fit the recognition head.

    What it detects:
        A vocab stored with the weights (in the file, its config entries or a config file
        beside it) whose length does not match the head: len(vocab)+1 outputs for CRNN,
        PARSeq, ViTSTR, SAR and VIPTR, len(vocab)+3 for MASTER.
    Why it matters:
        The model cannot be built with it (`load_state_dict` fails on the head's shape), and
        the vocab kept with the weights is not the one they were trained with.
    Fix:
        Store the vocab the model was trained with; its length is the head's size.
    Example:
        `torch.save({"model": sd, "vocab": VOCABS["french"]}, path)` for a model trained on digits.
    """
    verdict = _head(facts)
    if verdict is not None and verdict.code == "OD118":
        yield Problem(verdict.message, location=facts.config.source if facts.config else None)


@check(
    "OD119", "doctr-version-drift", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[ex.saved(ex.drifted_crnn, "other-release-head")],
    good=[_doctr("crnn_vgg16_bn", "french-head"),
          ex.saved(lambda: {"model": ex.drifted_crnn(), "vocab": ex.drifted_vocab()}, "other-release-vocab-stored")],
)
def doctr_version_drift(facts: CheckpointFacts) -> Iterator[Problem]:
    """The weights fit another docTR release's layout than the installed one.

    What it detects:
        A recognition head with no vocab stored that fits a vocabulary only another docTR
        release has: crnn_vgg16_bn's default was `legacy_french` (124 outputs) until docTR 1.0
        made it `french` (127) and removed `legacy_french` (mindee/doctr#1969); `multilingual`
        grew from 195 to 726 symbols in 0.12. And weights whose keys fit an architecture as
        another release defines it, or an architecture the installed release lacks (FAST
        arrived in 0.8.1). Without docTR installed, the newest release ocrdoctor knows stands
        in, and the message says so.
    Why it matters:
        `load_state_dict` fails against the installed docTR's default model, or the model is
        built with a vocabulary of the same size but other characters and reads wrong text.
    Fix:
        Build the model with the vocabulary the weights were trained with; the printed
        program pastes it (its literal string, where the installed docTR no longer has it).
        For a layout another release defines, deploy with that release or re-export.
    Example:
        A crnn_vgg16_bn fine-tuned with docTR 0.9's default vocab, deployed with docTR 1.1.
    """
    facts.require_weights()
    drift = layout_drift(facts.architecture)
    if drift:
        yield Problem(drift, fix="Deploy with a docTR release whose layout the weights fit, or retrain with the "
                                 "installed one")
        return
    verdict = _head(facts)
    if verdict is not None and verdict.code == "OD119":
        program = _build_program(facts, verdict.vocab, verdict.vocab_name) if verdict.vocab else None
        yield Problem(verdict.message, location=f"head of {facts.architecture.head_outputs} outputs",
                      fix=program or f"Build the model with vocab={verdict.vocab!r}",
                      applicability=SAFE, advice=program is None)

