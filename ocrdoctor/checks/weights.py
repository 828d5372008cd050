"""OD1xx rules over each model's weights in a checkpoint: where they sit, their keys, dtypes and values.

A file holding several models (a det + reco bundle) runs these once per model; the findings name
it (`member`). Pure functions of the facts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from ..anatomy.architectures import strip_wrappers
from ..anatomy.untrained import fresh_statistics
from ..core.findings import Applicability, Problem, Severity
from ..core.registry import check
from ..core.units import count, human_bytes, listing, subscript
from ..inspect.checkpoint import CheckpointFacts, TensorInfo
from . import examples as ex
from .programs import file_applicability, file_command, file_program, fix_command, own_loader_note

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS


def _with_program(facts: CheckpointFacts, message: str, *, location: str | None = None) -> Problem:
    """A finding a rewrite of the file clears: the file's one program (every rewrite it needs, programs.REWRITES)
    and its one command; where no program can load the file, the command alone."""
    program = file_program(facts)
    return Problem(message + own_loader_note(facts), location=location,
                   fix=program or "Run the command shown: ocrdoctor fix reads the file without loading it",
                   applicability=file_applicability(facts), advice=program is None, command=file_command(facts))


@check(
    "OD104", "wrapped-state-dict", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[
        ex.saved(lambda: {"state_dict": ex.tiny_state_dict()}, "under-state_dict"),
        ex.saved(ex.lightning_checkpoint, "lightning"),
        ex.saved(ex.ddp_training_checkpoint, "wrapped-and-ddp"),
    ],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def wrapped_state_dict(facts: CheckpointFacts) -> Iterator[Problem]:
    """The weights sit under a key instead of being the file's top-level object.

    What it detects:
        A checkpoint whose state_dict is stored under `model`, `state_dict` (Lightning, which
        also prefixes every key with `model.`), `model_state_dict`, `net`, `ema` or another key.
    Why it matters:
        `model.load_state_dict(torch.load(path))` fails with hundreds of missing and
        unexpected keys, and docTR's `from_pretrained(path)` cannot load it.
    Fix:
        `ocrdoctor fix`, or the printed program: it takes the weights from their key, strips
        the prefixes a plain model will not load, and saves them alone.
    Example:
        `torch.save({"model": model.state_dict()}, path)`
    """
    facts.require_weights()
    if facts.weights_path:
        sub = subscript(facts.weights_path)
        match = facts.architecture
        extra = ""
        if match is not None and match.identified and match.prefix and match.prefix != strip_wrappers(
                [t.name for t in facts.weights]):
            extra = f", every key prefixed with {match.prefix!r}"
        yield _with_program(facts, f"the weights sit under {sub}{extra}: model.load_state_dict(torch.load(path)) "
                                   f"fails; load {sub} instead", location=facts.weights_key)


@check(
    "OD105", "wrapper-prefix", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[
        ex.saved(lambda: {f"module.{k}": v for k, v in ex.tiny_state_dict().items()}, "dataparallel"),
        ex.saved(lambda: {f"_orig_mod.{k}": v for k, v in ex.tiny_state_dict().items()}, "torch-compile"),
        ex.saved(ex.ddp_training_checkpoint, "ddp-under-model"),
    ],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def wrapper_prefix(facts: CheckpointFacts) -> Iterator[Problem]:
    """Every key carries DataParallel's `module.` or torch.compile's `_orig_mod.` prefix.

    What it detects:
        A state_dict saved from a `DataParallel` / `DistributedDataParallel` wrapper
        (`module.`) or a compiled model (`_orig_mod.`) instead of the model inside it.
    Why it matters:
        Loading it into a plain docTR model fails: every key is unexpected and every
        parameter missing.
    Fix:
        `ocrdoctor fix`, or the printed program (torch's
        `consume_prefix_in_state_dict_if_present`); in training, save `model.module.state_dict()`.
    Example:
        `torch.save(torch.nn.DataParallel(model).state_dict(), path)`
    """
    weights = facts.require_weights()
    prefix = strip_wrappers([t.name for t in weights])
    if prefix:
        wrappers = {"module.": "DataParallel / DistributedDataParallel", "_orig_mod.": "torch.compile"}
        found, rest = [], prefix
        while rest:
            head = next(w for w in wrappers if rest.startswith(w))
            found.append(f"{head!r} ({wrappers[head]})")
            rest = rest[len(head):]
        keys = "the only key starts" if len(weights) == 1 else f"all {count(len(weights), 'key')} start"
        yield _with_program(facts, f"{keys} with {prefix!r}: {' then '.join(found)}; a plain "
                                   "model will not load them", location=prefix)


def _float_weights(facts: CheckpointFacts) -> list[TensorInfo]:
    return [t for t in facts.require_weights() if t.floating]


@check(
    "OD107", "mixed-dtypes", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[ex.saved(lambda: {**ex.tiny_state_dict("float16"), "0.weight": ex.tiny_state_dict()["0.weight"]},
                  "half-done-cast")],
    good=[ex.saved(ex.tiny_state_dict, "float32"), ex.saved(lambda: ex.tiny_state_dict("float16"), "float16")],
)
def mixed_dtypes(facts: CheckpointFacts) -> Iterator[Problem]:
    """Floating-point weights in more than one dtype: a half-done cast.

    What it detects:
        A state_dict whose floating tensors are partly float16 (or bfloat16) and partly
        float32, typically from casting some layers by hand.
    Why it matters:
        Loaded with `assign=True`, or pickled as a module, the model mixes precisions and
        either fails ("expected scalar type Half but found Float") or runs the slow path.
    Fix:
        Save in one dtype: `ocrdoctor fix --dtype float32` (lossless), or the printed program;
        cast the whole model at load time (`model.half()` on a GPU).
    Example:
        `sd["linear.weight"] = sd["linear.weight"].half(); torch.save(sd, path)`
    """
    floats = _float_weights(facts)
    counts = Counter(t.dtype for t in floats)
    if len(counts) > 1:
        minority = min(counts, key=lambda d: counts[d])
        odd = [t.name for t in floats if t.dtype == minority]
        parts = ", ".join(f"{n} {d}" for d, n in counts.most_common())
        yield _with_program(facts, f"weights in {count(len(counts), 'floating dtype')}: {parts}",
                            location=listing(odd, 3))


@check(
    "OD108", "float64-weights", Severity.WARNING, "checkpoint",
    applicability=NUMERICS,
    bad=[ex.saved(lambda: ex.tiny_state_dict("float64"), "float64")],
    good=[ex.saved(ex.tiny_state_dict, "float32")],
)
def float64_weights(facts: CheckpointFacts) -> Iterator[Problem]:
    """Weights stored in float64.

    What it detects:
        float64 (double precision) tensors in the state_dict.
    Why it matters:
        Twice the bytes of float32 for no accuracy a detector or recognizer can use, and
        wherever the tensors are used as saved, slower: the shipped pair ran 5.43x faster in
        float32 than in float64 on 2 CPU cores (`bench/bench_compare.py`).
    Fix:
        `ocrdoctor fix --dtype float32`, or the printed program, which casts to float32.
    Example:
        `torch.save(model.double().state_dict(), path)`
    """
    doubles = [t for t in _float_weights(facts) if t.dtype == "float64"]
    if doubles:
        size = sum(t.nbytes for t in doubles)
        yield _with_program(facts, f"float64 in {count(len(doubles), 'tensor')} ({human_bytes(size)}, half of it "
                                   "wasted)",
                            location=listing([t.name for t in doubles], 3))


def _with_nan(make):
    def build():
        sd = make()
        sd["0.weight"][0, 0, 0, 0] = float("nan")
        sd["3.bias"][1] = float("inf")
        return sd

    return build


@check(
    "OD109", "non-finite-weights", Severity.ERROR, "checkpoint",
    values=True,
    fix="Retrain from the last finite checkpoint with a lower learning rate or gradient clipping",
    bad=[ex.saved(_with_nan(ex.tiny_state_dict), "nan-and-inf")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def non_finite_weights(facts: CheckpointFacts) -> Iterator[Problem]:
    """NaN or Inf values in the weights.

    What it detects:
        Tensors holding NaN or infinite values, with their names and counts.
    Why it matters:
        One NaN spreads through every layer after it: the detector finds no boxes and the
        recognizer returns empty strings, with no error anywhere.
    Fix:
        Go back to the last finite checkpoint; lower the learning rate, clip gradients, or
        check float16 overflow (use a GradScaler) in training. `ocrdoctor fix` refuses such
        a file.
    Example:
        A training run that diverged: `loss` became `nan` before the checkpoint was saved.
    """
    bad = [t for t in facts.require_weights() if t.nonfinite]
    if bad:
        total = sum(t.nonfinite for t in bad)
        yield Problem(
            f"{count(total, 'NaN/Inf value')} in {count(len(bad), 'tensor')}: "
            + listing([f"{t.name} ({t.nonfinite})" for t in bad], 3),
            location=listing([t.name for t in bad], 5),
        )


# Layers docTR runs only in training: their statistics never reach an inference output.
TRAINING_ONLY = {"db_": ("thresh_head.",)}


@check(
    "OD110", "untrained-batchnorm", Severity.WARNING, "checkpoint",
    values=True,
    fix="Save the trained model's state_dict; if its statistics were lost, recalibrate them: run a few hundred "
        "real pages through the model in train mode under torch.no_grad(), then model.eval()",
    bad=[ex.saved(ex.fresh_batchnorm_state_dict, "fresh-batchnorm")],
    good=[ex.saved(ex.tiny_state_dict, "trained-batchnorm"),
          ex.saved(ex.db_with_untrained_thresh_head, "dbnet-thresh-head-only")],
)
def untrained_batchnorm(facts: CheckpointFacts) -> Iterator[Problem]:
    """BatchNorm running statistics still at their initial values.

    What it detects:
        BatchNorm layers whose `running_mean` is all 0 and whose `running_var` holds one
        value for every channel, after at most one batch (`num_batches_tracked` 0 or 1;
        docTR's CRNN constructor runs one dummy batch): the statistics were never trained.
        Layers docTR runs only in training do not count (DBNet's `thresh_head`). When every
        weight is still at its initialization, OD116 says so instead; a layer of a block that
        was never trained, OD127.
    Why it matters:
        In eval mode BatchNorm normalises with these statistics; at their initial values
        every activation is wrong and the model outputs garbage, with no error. It happens
        when a model is saved before training, or trained with BatchNorm frozen.
    Fix:
        Save the trained model's state_dict. If the statistics were lost, recalibrate them
        by running real pages through the model in train mode under `torch.no_grad()`.
    Example:
        `torch.save(db_mobilenet_v3_large(pretrained=False).state_dict(), path)` after
        training the convolutions with BatchNorm frozen.
    """
    by_name = {t.name: t for t in facts.require_weights()}
    if facts.untrained is not None:
        return  # OD116: the whole model is at its initialization
    skip = _training_only(facts)
    prefix = facts.architecture.prefix if facts.architecture is not None else ""
    layers = [n[: -len(".running_mean")] for n in by_name if n.endswith(".running_mean")]
    frozen = tuple(f"{b.name}." for b in facts.training.frozen()) if facts.training is not None else ()
    layers = [layer for layer in layers if not layer[len(prefix):].startswith(skip + frozen)]  # OD127 names those
    fresh = [layer for layer in layers if fresh_statistics(by_name, layer)]
    if fresh:
        yield Problem(
            f"{len(fresh)} of {count(len(layers), 'BatchNorm layer')} {'has' if len(fresh) == 1 else 'have'} "
            "initial running statistics (mean 0, one variance for all channels): outputs in eval mode will be wrong",
            location=listing(fresh, 3),
        )


def _training_only(facts: CheckpointFacts) -> tuple[str, ...]:
    match = facts.architecture
    if match is None or not match.identified:
        return ()
    return tuple(p for arch, prefixes in TRAINING_ONLY.items() if match.arch.startswith(arch) for p in prefixes)


@check(
    "OD116", "untrained-weights", Severity.ERROR, "checkpoint",
    values=True,
    fix="Save or load the trained weights: torch.save(model.state_dict(), path) after training, or check that "
        "the pretrained download did not fail (docTR logs \"Invalid model URL, using default initialization\")",
    bad=[ex.saved(ex.untrained_state_dict, "fresh-net"),
         ex.saved(lambda: ex.doctr_state_dict("crnn_mobilenet_v3_small", trained=False), "fresh-docTR-model"),
         ex.saved(lambda: ex.factory_predictor("fast_tiny").model.state_dict(), "factory-fast-reparameterized")],
    good=[ex.saved(ex.tiny_state_dict, "trained"),
          ex.saved(lambda: ex.briefly_trained().state_dict(), "two-adamw-steps"),
          ex.saved(lambda: ex.reparameterized_fast("fast_tiny"), "trained-fast-reparameterized"),
          ex.saved(ex.fresh_batchnorm_state_dict, "trained-with-frozen-batchnorm")],
)
def untrained_weights(facts: CheckpointFacts) -> Iterator[Problem]:
    """The weights are still at their initialization: a random model.

    What it detects:
        A model whose every norm layer (BatchNorm, LayerNorm, GroupNorm) still has its affine
        weight at exactly 1 and bias at exactly 0, and whose BatchNorm running statistics saw
        no training (initial values, or only the dummy batches a docTR constructor runs).
        Training moves all of these, so together they are exact evidence; biases docTR zeroes
        at initialization that are still 0 are reported beside it as support. A reparameterized
        FAST file has no norm layer left: there every fused convolution's bias is exactly 0 when
        the BatchNorm folded into it was at its initialization. Any other model without a norm
        layer gets no verdict.
    Why it matters:
        A random model loads, runs and returns confident gibberish with no error. It is what
        `pretrained=False` builds, what a failed pretrained download leaves behind, and what a
        script saves when it writes the model before the training loop.
    Fix:
        Save the trained model's weights, or load them before saving; when the weights came
        from `pretrained=True`, check docTR's log for a failed download.
    Example:
        `torch.save(crnn_vgg16_bn(pretrained=False).state_dict(), "reco.pt")` shipped instead of
        the fine-tuned file.
    Seen in the field:
        "The output is gibberish", with docTR's log saying "Invalid model URL, using default
        initialization" (mindee/doctr#1439).
    """
    found = facts.untrained
    if found is not None:
        yield Problem(f"every weight is still at its initialization: {found.describe()}",
                      location=count(len(facts.weights), "tensor"))


@check(
    "OD122", "no-tensor-data", Severity.ERROR, "checkpoint",
    fix="Save the weights from a model whose parameters hold data: torch.save(model.state_dict(), path) "
        "after loading or training it, not from a model built on the meta device",
    bad=[ex.saved(ex.meta_state_dict, "meta-device"), ex.Example(ex.zip_missing_storage, "storage-missing")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def no_tensor_data(facts: CheckpointFacts) -> Iterator[Problem]:
    """Tensors saved without data: nothing to load.

    What it detects:
        Tensors saved from the `meta` device (shapes and dtypes only), and tensors whose
        storage is missing from the archive (a member deleted or never written).
    Why it matters:
        There are no weights to deploy: `load_state_dict` fails ("Cannot copy out of meta
        tensor") or, with `assign=True`, the model runs on empty tensors.
    Fix:
        Save the state_dict of a model whose weights are materialized (loaded or trained),
        not of one built with `torch.device("meta")` or `init_empty_weights`.
    Example:
        `torch.save(torch.nn.Linear(4, 4, device="meta").state_dict(), path)`
    """
    empty = [t for t in facts.require_weights() if not t.has_data and t.kind not in ("sparse", "nested")]
    if empty:
        meta = sum(1 for t in empty if t.device == "meta" or t.kind == "meta")
        why = ("saved from the meta device" if meta == len(empty) else
               "missing from the archive" if not meta else f"{meta} from the meta device, the rest missing")
        yield Problem(f"{len(empty)} of {count(len(facts.weights), 'tensor')} have no data ({why})",
                      location=listing([t.name for t in empty], 3))


@check(
    "OD124", "quantized-weights", Severity.INFO, "checkpoint",
    fix="Nothing to repair: build the float model, quantize it the same way, then load the weights",
    bad=[ex.saved(ex.quantized_state_dict, "static-quantized"),
         ex.saved(lambda: ex.dynamic_quantized().state_dict(), "dynamic-quantized-crnn")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def quantized_weights(facts: CheckpointFacts) -> Iterator[Problem]:
    """Quantized tensors: recognised, compared by their float layout.

    What it detects:
        Tensors stored quantized (qint8, quint8, qint32: torch's static or dynamic
        quantization), with their quantization scheme; a dynamic-quantized model's packed
        LSTM and Linear parameters (`decoder._all_weight_values.0.param`, a `torch.ScriptObject`
        of `rnn.CellParamsBase`; `linear._packed_params._packed_params`) are read under the
        float model's keys, so the architecture is named and compared as for a float file.
    Why it matters:
        They are not an error, but they load only into a model quantized the same way, and
        docTR builds float models: the architecture checks compare the float layout, and
        `export` cannot rebuild them from bytes. torch's weights-only loader refuses the packed
        parameters' script objects (OD120).
    Fix:
        `ocrdoctor fix q.pt -o float.pt` writes them dequantized ((q - zero_point) * scale) under
        the float keys, verified by a strict load into the float docTR model; or build the float
        model, quantize it as in training (`torch.ao.quantization`), then load the weights.
    Example:
        `torch.save(torch.ao.quantization.quantize_dynamic(model).state_dict(), path)`
    """
    quantized = [t for t in facts.require_weights() if t.kind == "quantized" or t.dtype.startswith(("qint", "quint"))]
    if quantized:
        dtypes = ", ".join(sorted({t.dtype for t in quantized}))
        yield Problem(f"{count(len(quantized), 'quantized tensor')} ({dtypes}): they load only into a model quantized "
                      "the same way; `ocrdoctor fix` writes them dequantized, for the float model",
                      location=listing([t.name for t in quantized], 3), command=fix_command(facts))
