"""OD1xx: rules over the facts of one checkpoint file. Pure functions; nothing here reads a file."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterator

from ..architectures import identify, strip_wrappers
from ..findings import Applicability, Problem, Severity, Skip
from ..inspect.checkpoint import CheckpointFacts, TensorInfo
from ..registry import check
from ..units import human_bytes, listing, subscript
from . import examples as ex
from .programs import safe_globals_load

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS
LOAD = 'sd = torch.load(path, map_location="cpu", weights_only=True)'

_TRAINING_KEY = re.compile(
    r"optim|sched|scaler|epoch|step|iter|args|hparam|hyper|ema|loss|metric|^lr|_lr|best|callback|loops|rng|seed|trainer",
    re.IGNORECASE,
)


@check(
    "OD100", "unreadable-checkpoint", Severity.ERROR, "checkpoint",
    fix="Re-save the weights from the training run: torch.save(model.state_dict(), path)",
    bad=[
        ex.raw(b"", "empty"),
        ex.truncated(ex.tiny_state_dict, "truncated-zip"),
        ex.raw(b"epoch,loss\n1,0.5\n", "text"),
        ex.raw(bytes(range(256)) * 4, "random-bytes"),
        ex.raw(b"PK\x05\x06" + b"\0" * 18, "empty-zip"),
    ],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def unreadable_checkpoint(facts: CheckpointFacts) -> Iterator[Problem]:
    """The file cannot be read as a checkpoint at all.

    What it detects:
        Empty, truncated, corrupt or non-checkpoint files (text, random bytes, a zip that
        torch did not write, a plain pickle, a TorchScript archive). The message says what
        is wrong in one line.
    Why it matters:
        `torch.load` fails on the server with a long traceback, usually after an upload or
        copy was cut short (a partial `scp`, a Git LFS pointer instead of the file).
    Fix:
        Copy the file again and compare its checksum, or re-save the weights from the
        training run with `torch.save(model.state_dict(), path)`.
    Example:
        `head -c 1000 det.pt > cut.pt`
    """
    if facts.problem:
        yield Problem(facts.problem)


@check(
    "OD101", "unsafe-pickle", Severity.ERROR, "checkpoint",
    fix="Do not load this file. Re-export the weights where the file was made: torch.save(model.state_dict(), path)",
    bad=[ex.saved(lambda: {"w": ex.tiny_state_dict(), "x": ex.SystemCall("true")}, "os-system")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict"), ex.saved(ex.with_harmless_extras, "numpy-namespace-path")],
)
def unsafe_pickle(facts: CheckpointFacts) -> Iterator[Problem]:
    """A pickle in the file would run code when it is loaded.

    What it detects:
        Globals outside torch's weights-only allowlist that a loader would call, instantiate
        or import: `posix.system`, `builtins.eval`, attribute chains (`getattr`,
        `operator.attrgetter`, `pkgutil.resolve_name`, a dotted name reaching through `torch`
        to `os.system`), any `torch.*` function torch does not allow, in every pickle a loader
        could reach (each pickle of a legacy or pre-0.4 tar file, every `.pkl` of a zip).
        Also an archive whose candidates for `data.pkl` differ (names that differ in case or
        repeat): loaders would read different pickles. Found by reading the pickle with stubs;
        nothing is imported or executed, and the other rules are skipped.
    Why it matters:
        `torch.load(path, weights_only=False)` (the default before torch 2.6, and what many
        serving scripts still pass) runs them with the server's permissions, and torch's
        weights-only loader itself had code-execution bugs (CVE-2025-32434 below torch 2.6).
        Scanners that walk the pickle differently from torch have been bypassed this way
        (picklescan and modelscan advisories: decoy zip members, CRC tricks, unusual opcodes).
    Fix:
        Do not load the file. Where it was made, save only the weights:
        `torch.save(model.state_dict(), path)`.
    Example:
        `torch.save({"w": sd, "x": Payload()}, path)` where `Payload.__reduce__` returns
        `(os.system, ("...",))`.
    """
    if facts.unsafe_globals:
        names = facts.unsafe_globals
        parse = f" (then the pickle fails to parse: {facts.problem})" if facts.problem else ""
        yield Problem(
            f"the pickle uses {len(names)} global(s) outside torch's weights-only allowlist: "
            f"{listing(names)}; torch.load(weights_only=False) would run them{parse}",
            location=", ".join(n.rsplit(" (", 1)[0] for n in names),
        )
    if facts.conflict:
        yield Problem(facts.conflict + ": a scanner and torch.load can see different code", location="data.pkl")


@check(
    "OD102", "pickled-module", Severity.WARNING, "checkpoint",
    fix="Where the model is trained: torch.save(model.state_dict(), path), or run `ocrdoctor fix` on this file",
    applicability=SAFE,
    bad=[ex.saved(ex.whole_module, "torch-save-model")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def pickled_module(facts: CheckpointFacts) -> Iterator[Problem]:
    """A whole nn.Module was pickled instead of its state_dict.

    What it detects:
        `torch.save(model, path)`: the file holds the model object. Its classes are rebuilt as
        torch rebuilds modules (NEWOBJ, `copyreg._reconstructor`) and are either shipped by
        torch, torchvision or docTR, or the user's own classes whose rebuilt state is an
        nn.Module's; they are named. Any other call in the pickle is OD101.
    Why it matters:
        Loading it needs `weights_only=False`, which imports those classes and runs their
        code; it breaks as soon as the code moves or changes (a renamed module, a new docTR
        release), and cannot be made safe. The weights themselves are read from the module
        tree without running it, so the other rules still check them.
    Fix:
        `ocrdoctor fix model.pt -o weights.pt` writes the state_dict read from the module tree;
        where the model is trained, save `model.state_dict()` instead.
    Example:
        `torch.save(db_mobilenet_v3_large(), "det.pt")`
    """
    if facts.pickled_module and not facts.unsafe:
        classes = facts.module_globals
        own = f"; your own classes: {listing(facts.user_modules, 3)}" if facts.user_modules else ""
        yield Problem(
            f"a whole nn.Module is pickled ({len(classes)} classes to import, e.g. {listing(classes, 2)}{own}); "
            "loading it needs weights_only=False and the same code at the same import paths",
            location=", ".join(classes) or None,
        )


@check(
    "OD120", "not-weights-only-loadable", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[ex.saved(ex.with_harmless_extras, "numpy-namespace-path")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict"), ex.saved(lambda: {"model": ex.tiny_state_dict(), "epoch": 3}, "plain-extras")],
)
def not_weights_only_loadable(facts: CheckpointFacts) -> Iterator[Problem]:
    """torch's default torch.load refuses the file, though nothing in it runs code.

    What it detects:
        Harmless entries beside the weights that torch's weights-only unpickler does not
        allow: numpy scalars and arrays (metrics), `argparse.Namespace` (the training
        arguments), `pathlib` paths, `collections.defaultdict`, `datetime`, Lightning's
        `AttributeDict`, omegaconf containers. The exact names are listed.
    Why it matters:
        Since torch 2.6, `torch.load(path)` is weights-only by default and fails with
        "Weights only load failed ... Unsupported global"; the usual workaround,
        `weights_only=False`, also runs whatever a malicious file holds.
    Fix:
        `ocrdoctor fix` writes the weights alone, which any torch loads; or load this file with
        exactly these names allowed: `torch.serialization.safe_globals([...])` (torch >= 2.5).
    Example:
        `torch.save({"model": sd, "args": argparse.Namespace(lr=1e-3), "best": np.float64(0.93)}, path)`
    """
    if facts.unsafe or facts.pickled_module or not facts.outside_weights_only:
        return
    names = facts.outside_weights_only
    program = safe_globals_load(names, facts.versions)
    yield Problem(
        f"torch.load(path) (weights-only by default since torch 2.6) refuses the file: it holds "
        f"{listing(names, 4)}; none of them runs code. `ocrdoctor fix` writes the weights alone"
        + ("" if program else "; the installed torch has no safe_globals (2.5+) to allow them instead"),
        location=", ".join(names),
        fix=program or "ocrdoctor fix PATH -o weights.pt",
    )


@check(
    "OD121", "not-a-checkpoint", Severity.INFO, "checkpoint",
    bad=[ex.Example(ex.torchscript_file, "torchscript"), ex.Example(ex.exported_program_file, "torch-export", suffix=".pt2")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def not_a_checkpoint(facts: CheckpointFacts) -> Iterator[Problem]:
    """A TorchScript archive or a torch.export program: a deployable model, not a state_dict.

    What it detects:
        A zip written by `torch.jit.save` (it holds `constants.pkl` and TorchScript code) or by
        `torch.export.save` (a `.pt2` with `archive_format`).
    Why it matters:
        It is not an error: these files carry the model's code with its weights and are loaded
        with `torch.jit.load` or `torch.export.load`, not `torch.load` + `load_state_dict`.
        `torch.load` on them dispatches to TorchScript or fails; docTR cannot build a model from
        them, so the checkpoint rules do not apply.
    Fix:
        Load it as what it is (`torch.jit.load(path)` or `torch.export.load(path)`) and check
        the loaded module with `ocrdoctor.diagnose(model)`; for a checkpoint ocrdoctor can check,
        save `model.state_dict()` where the model is trained.
    Example:
        `torch.jit.script(model).save("model.pt")`
    """
    if facts.format == "torchscript":
        yield Problem("a TorchScript archive (torch.jit.save), not a state_dict: load it with torch.jit.load(path) "
                      "and check the module with ocrdoctor.diagnose(model)")
    elif facts.format == "torch-export":
        yield Problem("a torch.export program (torch.export.save), not a state_dict: load it with "
                      "torch.export.load(path) and check its module() with ocrdoctor.diagnose")


def _is_training_state(key: str) -> bool:
    return bool(_TRAINING_KEY.search(key))


@check(
    "OD103", "training-state", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[
        ex.saved(lambda: {"model": ex.tiny_state_dict(), "optimizer": ex.optimizer_state(ex.tiny_state_dict()), "epoch": 3}, "optimizer-epoch"),
        ex.saved(lambda: {**ex.tiny_state_dict(), "epoch": 7}, "epoch-in-state-dict"),
    ],
    good=[
        ex.saved(ex.tiny_state_dict, "state-dict"),
        ex.saved(lambda: {"model": ex.tiny_state_dict(), "vocab": "abc"}, "model-and-vocab"),
    ],
)
def training_state(facts: CheckpointFacts) -> Iterator[Problem]:
    """Optimizer, scheduler, epoch and other training state saved next to the weights.

    What it detects:
        Entries such as `optimizer`, `scheduler`, `scaler`, `epoch`, `step`, `args` or
        `ema` stored beside the weights. The message gives their bytes and their share of
        the file.
    Why it matters:
        An AdamW state is twice the size of the weights: the file is three times larger,
        slower to download and load, and `model.load_state_dict(torch.load(path))` fails.
    Fix:
        Save only the weights: `torch.save(ckpt["model"], "weights.pt")`.
    Example:
        `torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 12}, path)`
    """
    facts.require_weights()
    extra = [e for e in facts.entries if _is_training_state(e.key)]
    if not extra:
        return
    total = sum(e.nbytes for e in extra)
    parts = [f"{e.key} ({human_bytes(e.nbytes)})" if e.tensors else e.key for e in sorted(extra, key=lambda e: -e.nbytes)]
    share = total / facts.size if facts.size else 0
    if facts.weights_path:
        fix = f'torch.save(torch.load(path, map_location="cpu", weights_only=True){subscript(facts.weights_path)}, "weights.pt")'
    else:
        fix = f'{LOAD}\ntorch.save({{k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}}, "weights.pt")'
    yield Problem(
        f"training state saved next to the weights: {', '.join(parts)}; "
        f"{human_bytes(total)}, {share:.0%} of the {human_bytes(facts.size)} file",
        location=", ".join(e.key for e in extra),
        fix=fix,
    )


@check(
    "OD104", "wrapped-state-dict", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[ex.saved(lambda: {"state_dict": ex.tiny_state_dict()}, "under-state_dict")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def wrapped_state_dict(facts: CheckpointFacts) -> Iterator[Problem]:
    """The weights sit under a key instead of being the file's top-level object.

    What it detects:
        A checkpoint whose state_dict is stored under `model`, `state_dict`,
        `model_state_dict`, `net` or another key.
    Why it matters:
        `model.load_state_dict(torch.load(path))` fails with hundreds of missing and
        unexpected keys, and docTR's `from_pretrained(path)` cannot load it.
    Fix:
        Load from the key, or re-save the inner dict:
        `torch.save(torch.load(path, weights_only=True)["model"], "weights.pt")`.
    Example:
        `torch.save({"model": model.state_dict()}, path)`
    """
    facts.require_weights()
    if facts.weights_path:
        sub = subscript(facts.weights_path)
        yield Problem(
            f"the weights sit under {sub}: model.load_state_dict(torch.load(path)) fails; load {sub} instead",
            location=facts.weights_key,
            fix=f'model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True){sub})',
        )


@check(
    "OD105", "wrapper-prefix", Severity.WARNING, "checkpoint",
    applicability=SAFE,
    bad=[
        ex.saved(lambda: {f"module.{k}": v for k, v in ex.tiny_state_dict().items()}, "dataparallel"),
        ex.saved(lambda: {f"_orig_mod.{k}": v for k, v in ex.tiny_state_dict().items()}, "torch-compile"),
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
        `torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(sd, "module.")`
        before loading or saving; save `model.module.state_dict()` in training.
    Example:
        `torch.save(torch.nn.DataParallel(model).state_dict(), path)`
    """
    weights = facts.require_weights()
    prefix = strip_wrappers([t.name for t in weights])
    if prefix:
        why = "DataParallel / DistributedDataParallel" if prefix.startswith("module.") else "torch.compile"
        calls = "\n".join(
            f'consume_prefix_in_state_dict_if_present(sd, "{p}.")' for p in prefix.rstrip(".").split(".")
        )
        yield Problem(
            f"all {len(weights)} keys start with {prefix!r} ({why}): a plain model will not load them",
            location=prefix,
            fix=f"from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present\n{calls}",
        )


@check(
    "OD106", "saved-on-gpu", Severity.WARNING, "checkpoint",
    fix=f'{LOAD}\ntorch.save(sd, "weights-cpu.pt")',
    applicability=SAFE,
    bad=[ex.saved_from("cuda:0", ex.tiny_state_dict, "cuda0")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def saved_on_gpu(facts: CheckpointFacts) -> Iterator[Problem]:
    """Tensors were saved from a CUDA device.

    What it detects:
        Storages tagged `cuda:N` in the file: the model was on a GPU when it was saved.
    Why it matters:
        A plain `torch.load(path)` fails on a CPU-only host ("Attempting to deserialize
        object on a CUDA device"), and on a multi-GPU server it puts every tensor on that
        one GPU, next to whatever else runs there.
    Fix:
        Load with `map_location="cpu"` and save again, or save `model.cpu().state_dict()`.
    Example:
        `torch.save(model.cuda().state_dict(), path)`
    """
    if facts.unsafe:
        raise Skip("not checked: the file is unsafe to load (OD101)")
    if not facts.tensors:
        raise Skip("the file could not be read" if facts.problem else "no tensors in the file")
    on_gpu = [t for t in facts.tensors if t.device != "cpu"]
    if on_gpu:
        devices = sorted({t.device for t in on_gpu})
        size = sum({t.storage: t.storage_nbytes for t in on_gpu}.values())
        yield Problem(
            f"{len(on_gpu)} tensors ({human_bytes(size)}) were saved from {', '.join(devices)}: "
            "torch.load without map_location fails on a CPU host",
            location=listing([t.name for t in on_gpu], 3),
        )


def _float_weights(facts: CheckpointFacts) -> list[TensorInfo]:
    return [t for t in facts.require_weights() if t.floating]


@check(
    "OD107", "mixed-dtypes", Severity.WARNING, "checkpoint",
    fix=f'{LOAD}\nsd = {{k: v.float() if v.is_floating_point() else v for k, v in sd.items()}}\n'
        '# then cast the whole model once it is built: model.half()',
    applicability=SAFE,
    bad=[ex.saved(lambda: {**ex.tiny_state_dict("float16"), "0.weight": ex.tiny_state_dict()["0.weight"]}, "half-done-cast")],
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
        Save in one dtype (float32 is lossless) and cast the whole model at load time.
    Example:
        `sd["linear.weight"] = sd["linear.weight"].half(); torch.save(sd, path)`
    """
    floats = _float_weights(facts)
    counts = Counter(t.dtype for t in floats)
    if len(counts) > 1:
        minority = min(counts, key=lambda d: counts[d])
        odd = [t.name for t in floats if t.dtype == minority]
        parts = ", ".join(f"{n} {d}" for d, n in counts.most_common())
        yield Problem(f"weights in {len(counts)} floating dtypes: {parts}", location=listing(odd, 3))


@check(
    "OD108", "float64-weights", Severity.WARNING, "checkpoint",
    fix=f'{LOAD}\nsd = {{k: v.float() if v.dtype == torch.float64 else v for k, v in sd.items()}}',
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
        wherever the tensors are used as saved, many times slower (GPUs run float64 at a
        small fraction of their float32 speed).
    Fix:
        Cast to float32 before saving: `{k: v.float() for k, v in sd.items()}`.
    Example:
        `torch.save(model.double().state_dict(), path)`
    """
    doubles = [t for t in _float_weights(facts) if t.dtype == "float64"]
    if doubles:
        size = sum(t.nbytes for t in doubles)
        yield Problem(
            f"{len(doubles)} tensors are float64 ({human_bytes(size)}, half of it wasted)",
            location=listing([t.name for t in doubles], 3),
        )


def _with_nan(make):
    def build():
        sd = make()
        sd["0.weight"][0, 0, 0, 0] = float("nan")
        sd["3.bias"][1] = float("inf")
        return sd

    return build


@check(
    "OD109", "non-finite-weights", Severity.ERROR, "checkpoint",
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
        check float16 overflow (use a GradScaler) in training.
    Example:
        A training run that diverged: `loss` became `nan` before the checkpoint was saved.
    """
    bad = [t for t in facts.require_weights() if t.nonfinite]
    if bad:
        total = sum(t.nonfinite for t in bad)
        yield Problem(
            f"{total} NaN/Inf values in {len(bad)} tensors: "
            + listing([f"{t.name} ({t.nonfinite})" for t in bad], 3),
            location=listing([t.name for t in bad], 5),
        )


@check(
    "OD110", "untrained-batchnorm", Severity.WARNING, "checkpoint",
    fix="model.train()\nwith torch.no_grad():\n    for images in calibration_batches:  # a few hundred real pages\n"
        "        model(images)\nmodel.eval()",
    applicability=NUMERICS,
    bad=[ex.saved(ex.fresh_batchnorm_state_dict, "fresh-batchnorm")],
    good=[ex.saved(ex.tiny_state_dict, "trained-batchnorm")],
)
def untrained_batchnorm(facts: CheckpointFacts) -> Iterator[Problem]:
    """BatchNorm running statistics still at their initial values.

    What it detects:
        BatchNorm layers whose `running_mean` is all 0 and whose `running_var` holds one
        value for every channel, after at most one batch (`num_batches_tracked` 0 or 1;
        docTR's CRNN constructor runs one dummy batch): the statistics were never trained.
    Why it matters:
        In eval mode BatchNorm normalises with these statistics; at their initial values
        every activation is wrong and the model outputs garbage, with no error. It happens
        when a model is saved before training, or trained with BatchNorm frozen.
    Fix:
        Save the trained model's state_dict. If the statistics were lost, recalibrate them
        by running real pages through the model in train mode under `torch.no_grad()`.
    Example:
        `torch.save(db_mobilenet_v3_large(pretrained=False).state_dict(), path)`
    """
    by_name = {t.name: t for t in facts.require_weights()}
    layers = [n[: -len(".running_mean")] for n in by_name if n.endswith(".running_mean")]
    fresh = [layer for layer in layers if _initial_statistics(by_name, layer)]
    if fresh:
        yield Problem(
            f"{len(fresh)} of {len(layers)} BatchNorm layers still have initial running statistics "
            "(mean 0, one variance for all channels): outputs in eval mode will be wrong",
            location=listing(fresh, 3),
        )


def _initial_statistics(by_name: dict[str, TensorInfo], layer: str) -> bool:
    """Mean all 0 and one variance for every channel, after at most one batch: never trained.

    One batch covers docTR models whose constructor runs a dummy forward in train mode.
    """
    mean, var = by_name.get(f"{layer}.running_mean"), by_name.get(f"{layer}.running_var")
    tracked = by_name.get(f"{layer}.num_batches_tracked")
    return (
        mean is not None and mean.constant == 0.0
        and var is not None and var.constant is not None
        and (var.constant == 1.0 if tracked is None else tracked.constant is not None and tracked.constant <= 1)
    )


@check(
    "OD111", "legacy-format", Severity.INFO, "checkpoint",
    fix=f'{LOAD}\ntorch.save(sd, "weights.pt")  # the zip format',
    applicability=SAFE,
    bad=[ex.saved(ex.tiny_state_dict, "legacy", _use_new_zipfile_serialization=False)],
    good=[ex.saved(ex.tiny_state_dict, "zip")],
)
def legacy_format(facts: CheckpointFacts) -> Iterator[Problem]:
    """The file uses torch's pre-1.6 (non-zip) serialization.

    What it detects:
        A checkpoint written with `_use_new_zipfile_serialization=False` or by torch < 1.6.
    Why it matters:
        It cannot be memory-mapped (`torch.load(mmap=True)` refuses it), so every load
        reads and copies the whole file, and torch's own safety scanner cannot read it.
    Fix:
        Load it once and save it again with a current torch.
    Example:
        `torch.save(sd, path, _use_new_zipfile_serialization=False)`
    """
    if facts.format == "legacy":
        yield Problem("the legacy (pre-1.6, non-zip) torch format: it cannot be memory-mapped")


def _doctr(arch: str, label: str, **kw):
    return ex.saved(lambda: ex.doctr_state_dict(arch, **kw), label)


@check(
    "OD112", "unknown-architecture", Severity.INFO, "checkpoint",
    fix="Pass --arch NAME to check the file against a docTR architecture (ocrdoctor rules lists them)",
    bad=[ex.saved(ex.tiny_state_dict, "not-doctr")],
    good=[_doctr("db_mobilenet_v3_large", "db_mobilenet_v3_large"), _doctr("crnn_mobilenet_v3_small", "crnn-custom-vocab", vocab="0123456789")],
)
def unknown_architecture(facts: CheckpointFacts) -> Iterator[Problem]:
    """The keys match no docTR architecture; architecture checks are skipped.

    What it detects:
        A state_dict whose keys and shapes match none of docTR's detection or recognition
        architectures closely enough (the report names the closest one).
    Why it matters:
        OD113 and OD114 cannot run, so a missing layer or an unreparameterized FAST model
        goes unnoticed. It also means docTR's builders will not load the file as it is.
    Fix:
        Pass `--arch NAME` to check the file against the architecture it should be.
    Example:
        A checkpoint of a model that is not from docTR.
    """
    facts.require_weights()
    match = facts.architecture
    if match is None or not match.identified:
        closest = f" (closest: {match.arch}, {match.score:.0%} of keys)" if match and match.score >= 0.1 else ""
        yield Problem(f"the keys match no docTR architecture{closest}; OD113 and OD114 were skipped")


@check(
    "OD113", "architecture-mismatch", Severity.ERROR, "checkpoint",
    bad=[
        ex.Example(_doctr("crnn_mobilenet_v3_small", "x", vocab="0123456789").write, "vocab-10-vs-default", arch="crnn_mobilenet_v3_small"),
        ex.Example(_doctr("db_mobilenet_v3_large", "x").write, "detector-as-recognizer", arch="crnn_mobilenet_v3_small"),
        ex.saved(lambda: {k: v for k, v in ex.doctr_state_dict("db_mobilenet_v3_large").items() if "prob_head" not in k}, "missing-head"),
    ],
    good=[
        ex.Example(_doctr("db_mobilenet_v3_large", "x").write, "requested-and-matching", arch="db_mobilenet_v3_large"),
        _doctr("crnn_mobilenet_v3_small", "custom-vocab-unrequested", vocab="0123456789"),
    ],
)
def architecture_mismatch(facts: CheckpointFacts) -> Iterator[Problem]:
    """The weights do not fit the identified or requested docTR architecture.

    What it detects:
        Missing or unexpected keys, or tensors of the wrong shape, against the architecture
        named with `--arch` or identified from the keys. When only the recognition head
        differs, it says which vocabulary size the file was trained for.
    Why it matters:
        `load_state_dict` raises on the server; with `strict=False` the missing layers keep
        their random initial values and the model silently outputs garbage.
    Fix:
        Build the model the way it was trained: the same architecture, and for a custom
        vocabulary `crnn_vgg16_bn(pretrained=False, vocab=VOCAB)` with the training vocab.
    Example:
        A recognizer trained with a 10-character vocab loaded into `crnn_vgg16_bn()`.
    """
    weights = facts.require_weights()
    match = facts.architecture
    if match is None or not match.identified:
        raise Skip("architecture unknown (pass --arch NAME)")
    if match.missing or match.unexpected or match.mismatched:
        yield _key_mismatch(match, weights)
    elif match.requested and match.custom_head:
        yield _head_mismatch(match)


def _key_mismatch(match, weights) -> Problem:
    parts = []
    if match.missing:
        parts.append(f"{len(match.missing)} keys missing ({listing(match.missing, 2)})")
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


def _head_mismatch(match) -> Problem:
    noun = "vocabulary" if match.head == "vocab" else "class list"
    unit = "characters" if match.head == "vocab" else "classes"
    arg = "vocab=VOCAB" if match.head == "vocab" else "class_names=CLASS_NAMES"
    return Problem(
        f"the head is sized for a {noun} of {match.head_size} {unit}; {match.arch}'s default has "
        f"{match.head_default}: build it with the {noun} it was trained with",
        location=f"{match.head} size {match.head_size}",
        fix=f"model = {match.arch}(pretrained=False, pretrained_backbone=False, {arg})  "
            f"# the {match.head_size} {unit} used in training",
        applicability=SAFE,
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
        Load it, call docTR's `reparameterize(model)`, and save that state_dict (build the
        model and reparameterize it again before loading the new file).
    Example:
        `torch.save(fast_base(pretrained=False).state_dict(), path)` after training.
    """
    facts.require_weights()
    match = facts.architecture
    if match is None or not match.identified:
        raise Skip("architecture unknown (pass --arch NAME)")
    if match.arch.startswith("fast") and match.form == "training":
        yield Problem(
            f"{match.arch} in its multi-branch training form: predictors built from this model run unfused branches",
            fix=(
                f"from doctr.models import {match.arch}\nfrom doctr.models.detection.fast import reparameterize\n"
                f"model = {match.arch}(pretrained=False, pretrained_backbone=False)\n"
                f"model.load_state_dict(sd)\nmodel = reparameterize(model)\n"
                f'torch.save(model.state_dict(), "{match.arch}-reparameterized.pt")'
            ),
        )


@check(
    "OD115", "storage-bloat", Severity.INFO, "checkpoint",
    fix=f'{LOAD}\ntorch.save({{k: v.clone() for k, v in sd.items()}}, "weights.pt")',
    applicability=SAFE,
    bad=[ex.saved(ex.with_view_of_large_storage, "view-of-big-storage")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def storage_bloat(facts: CheckpointFacts) -> Iterator[Problem]:
    """The file is much larger than the tensors it holds.

    What it detects:
        Tensors saved as views of larger storages: `torch.save` writes the whole storage,
        so a slice of a big buffer takes the buffer's full size on disk.
    Why it matters:
        The file is larger and slower to download and load than its weights need.
    Fix:
        Clone every tensor before saving: `torch.save({k: v.clone() for k, v in sd.items()}, path)`.
    Example:
        `torch.save({"w": big_buffer[:10]}, path)`
    """
    facts.require_weights()
    storages: dict[int, int] = {}
    used: dict[int, int] = {}
    for t in facts.tensors:
        storages[t.storage] = t.storage_nbytes
        used[t.storage] = min(t.storage_nbytes, used.get(t.storage, 0) + t.nbytes)
    wasted = sum(storages.values()) - sum(used.values())
    if wasted >= 1 << 20 and wasted >= 0.2 * facts.size:
        views = sorted((t for t in facts.tensors if t.storage_nbytes > t.nbytes), key=lambda t: -t.storage_nbytes)
        worst = views[0]
        yield Problem(
            f"{human_bytes(wasted)} of the {human_bytes(facts.size)} file are unused parts of storages saved "
            f"with views (e.g. {worst.name}: {human_bytes(worst.nbytes)} of a {human_bytes(worst.storage_nbytes)} storage)",
            location=listing([t.name for t in views], 3),
        )
