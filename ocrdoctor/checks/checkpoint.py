"""OD1xx rules over a whole checkpoint file: readable, what else it holds beside the weights, where it was
saved, its format and size.

What loading it would run is in checks/safety.py; rules over each model the file holds are in
checks/weights.py and checks/architecture.py. Pure functions of the facts; nothing here reads a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..core.findings import Applicability, Problem, Severity, Skip
from ..core.registry import check
from ..core.units import count, human_bytes, listing
from ..inspect.checkpoint import CheckpointFacts
from . import examples as ex
from .programs import bloated, file_applicability, file_command, file_program, own_loader_note, wasted_bytes

SAFE = Applicability.SAFE

# What training scripts save beside the weights. EMA copies are not training state (a second set
# of weights, checks/weights.py), nor is a model config (vocab, mean, std).
_TRAINING_KEY = re.compile(
    r"optim|sched|scaler|epoch|step|iter|args|hparam|hyper|loss|metric|^lr|_lr|best|callback|loops|rng|seed|trainer",
    re.IGNORECASE,
)


@check(
    "OD100", "unreadable-checkpoint", Severity.ERROR, "checkpoint", scope="file",
    bad=[
        ex.raw(b"", "empty"),
        ex.truncated(ex.tiny_state_dict, "truncated-zip"),
        ex.raw(b"epoch,loss\n1,0.5\n", "text"),
        ex.raw(bytes(range(256)) * 4, "random-bytes"),
        ex.raw(b"PK\x05\x06" + b"\0" * 18, "empty-zip"),
        ex.raw(ex.LFS_POINTER, "git-lfs-pointer"),
    ],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def unreadable_checkpoint(facts: CheckpointFacts) -> Iterator[Problem]:
    """The file cannot be read as a checkpoint at all.

    What it detects:
        Empty, truncated or corrupt files, files that are something else (text, an HTML error
        page, random bytes, a zip torch did not write, a plain pickle), a Git LFS pointer
        instead of the file, a file this user may not read. The message says which, in one
        line, with the file's real size.
    Why it matters:
        `torch.load` fails on the server with a long traceback, usually after an upload or
        copy was cut short (a partial `scp`), a clone without `git lfs`, or a download that
        saved an error page.
    Fix:
        The fix follows the cause: `git lfs pull` for a pointer, read access for a permission
        problem, a fresh copy (compare checksums) for a truncated file, and for anything else
        saving the weights again from the training run: `torch.save(model.state_dict(), path)`.
    Example:
        `head -c 1000 det.pt > cut.pt`
    """
    if facts.problem and not facts.hostile:
        yield Problem(facts.problem, fix=_remedy(facts))


def _remedy(facts: CheckpointFacts) -> str:
    problem = facts.problem or ""
    if "Git LFS pointer" in problem:
        return f'git lfs pull --include "{facts.path}"  # fetch the real file the pointer stands for'
    if "permission denied" in problem:
        return f"Ask for read access (the owner can run: chmod a+r {facts.path}), then check it again"
    if "truncated" in problem or "cut short" in problem or "runs past the end" in problem:
        return "Copy the file again and compare its checksum (sha256sum) with the original"
    return "Save the weights again from the training run: torch.save(model.state_dict(), path)"


# What makes a file heavy and fails load_state_dict: optimizer, scheduler, scaler and loop state. Small run
# metadata alone (epoch, step, args, hyper-parameters, metrics) is silent under a few KiB.
_STATE = re.compile(r"optim|sched|scaler|loops|callback|trainer|rng", re.IGNORECASE)
SMALL_METADATA = 4 << 10


def _is_training_state(key: str) -> bool:
    return bool(_TRAINING_KEY.search(key))


@check(
    "OD103", "training-state", Severity.WARNING, "checkpoint", scope="file",
    applicability=SAFE,
    bad=[
        ex.saved(lambda: {"model": ex.tiny_state_dict(), "optimizer": ex.optimizer_state(ex.tiny_state_dict()),
                          "epoch": 3}, "optimizer-epoch"),
        ex.saved(lambda: {**ex.tiny_state_dict(), "epoch": 7}, "epoch-in-state-dict"),
        ex.saved(ex.lightning_checkpoint, "lightning"),
        ex.saved(ex.ddp_training_checkpoint, "ddp-training"),
    ],
    good=[
        ex.saved(ex.tiny_state_dict, "state-dict"),
        ex.saved(lambda: {"model": ex.tiny_state_dict(), "epoch": 3, "hyper_parameters": {"lr": 1e-3}},
                 "small-metadata-beside"),
        ex.saved(lambda: {"model": ex.tiny_state_dict(), "vocab": "abc"}, "model-and-vocab"),
        ex.saved(lambda: {"model": ex.tiny_state_dict(), "ema": ex.tiny_state_dict()}, "model-and-ema"),
    ],
)
def training_state(facts: CheckpointFacts) -> Iterator[Problem]:
    """Optimizer, scheduler, epoch and other training state saved next to the weights.

    What it detects:
        Entries such as `optimizer`, `scheduler`, `scaler`, `epoch`, `step`, `args`, or
        Lightning's `optimizer_states` and `loops`, stored beside the weights. The message
        gives their bytes and their share of the file. EMA weights (`ema`, `model_ema`,
        `state_dict_ema`) are not training state: they are a second set of weights. Small run
        metadata alone beside wrapped weights (an epoch, the arguments, hyper-parameters: under
        4 KiB together) is not reported; inside a flat state_dict any of it breaks a strict load.
    Why it matters:
        An AdamW state is twice the size of the weights: the file is three times larger,
        slower to download and load, and `model.load_state_dict(torch.load(path))` fails.
    Fix:
        `ocrdoctor fix` writes the weights alone (and keeps the model config); the printed
        program does the same with torch.
    Example:
        `torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 12}, path)`
    """
    if not any(m.weights for m in facts.models):
        facts.require_weights()
    extra = [e for e in facts.entries if _is_training_state(e.key) and e.kind != "ema weights"]
    if not extra:
        return
    flat = any(m.weights_path == () for m in facts.models)  # inside the state_dict, any entry breaks a strict load
    if not flat and not any(_STATE.search(e.key) for e in extra) and sum(e.nbytes for e in extra) < SMALL_METADATA:
        return  # an epoch, the arguments, a few hyper-parameters beside the weights: notes about the run
    total = sum(e.nbytes for e in extra)
    parts = [f"{e.key} ({human_bytes(e.nbytes)})" if e.tensors else e.key for e in sorted(extra,
                                                                                          key=lambda e: -e.nbytes)]
    share = total / facts.size if facts.size else 0
    program = file_program(facts) if not facts.members else None
    yield Problem(
        f"training state saved next to the weights: {', '.join(parts)}; "
        f"{human_bytes(total)}, {share:.0%} of the {human_bytes(facts.size)} file",
        location=", ".join(e.key for e in extra),
        fix=program or "Run the command shown: it writes each model's weights alone",
        applicability=file_applicability(facts.models[0]), advice=program is None,
        command=file_command(facts.models[0]),
    )


@check(
    "OD106", "saved-on-gpu", Severity.WARNING, "checkpoint", scope="file",
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
        Load with `map_location="cpu"` and save again (the printed program keeps the whole
        file), or save `model.cpu().state_dict()`.
    Example:
        `torch.save(model.cuda().state_dict(), path)`
    """
    if facts.unsafe:
        raise Skip("not checked: the file is unsafe to load (OD101)")
    if not facts.tensors:
        raise Skip("the file could not be read" if facts.problem else "no tensors in the file")
    on_gpu = [t for t in facts.tensors if t.device not in ("cpu", "meta")]
    if on_gpu:
        devices = sorted({t.device for t in on_gpu})
        size = sum({t.storage: t.storage_nbytes for t in on_gpu}.values())
        program = file_program(facts) if not facts.members else None
        yield Problem(
            f"{count(len(on_gpu), 'tensor')} ({human_bytes(size)}) were saved from {', '.join(devices)}: "
            "torch.load without map_location fails on a CPU host" + own_loader_note(facts.models[0]),
            location=listing([t.name for t in on_gpu], 3),
            fix=program or "Run the command shown: its output lives on the CPU",
            applicability=file_applicability(facts.models[0]), advice=program is None,
            command=file_command(facts.models[0]),
        )


@check(
    "OD111", "legacy-format", Severity.INFO, "checkpoint", scope="file",
    applicability=SAFE,
    bad=[ex.saved(ex.tiny_state_dict, "legacy", _use_new_zipfile_serialization=False)],
    good=[ex.saved(ex.tiny_state_dict, "zip")],
)
def legacy_format(facts: CheckpointFacts) -> Iterator[Problem]:
    """The file uses torch's pre-1.6 (non-zip) serialization.

    What it detects:
        A checkpoint written with `_use_new_zipfile_serialization=False` or by torch < 1.6
        (the pre-0.4 tar layout included).
    Why it matters:
        It cannot be memory-mapped (`torch.load(mmap=True)` refuses it), so every load
        reads and copies the whole file, and torch's own safety scanner cannot read it.
    Fix:
        Load it once and save it again with a current torch (the printed program), or
        `ocrdoctor fix`.
    Example:
        `torch.save(sd, path, _use_new_zipfile_serialization=False)`
    """
    if facts.format in ("legacy", "tar"):
        program = file_program(facts) if not facts.members else None
        yield Problem(f"the {'pre-0.4 tar' if facts.format == 'tar' else 'legacy (pre-1.6, non-zip)'} torch format: "
                      "it cannot be memory-mapped",
                      fix=program or "Run the command shown: it writes the zip format",
                      applicability=file_applicability(facts.models[0]), advice=program is None,
                      command=file_command(facts.models[0]))


@check(
    "OD115", "storage-bloat", Severity.INFO, "checkpoint", scope="file",
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
        Save compact copies: `ocrdoctor fix`, or the printed program (`torch.save` of the
        loaded weights writes each tensor's own bytes only when they are cloned).
    Example:
        `torch.save({"w": big_buffer[:10]}, path)`
    """
    if not any(m.weights for m in facts.models):
        facts.require_weights()
    wasted = wasted_bytes(facts)
    if bloated(facts):
        views = sorted((t for t in facts.tensors if t.storage_nbytes > t.nbytes), key=lambda t: -t.storage_nbytes)
        worst = views[0]
        program = file_program(facts) if not facts.members else None
        yield Problem(
            f"{human_bytes(wasted)} of the {human_bytes(facts.size)} file are unused parts of storages saved "
            f"with views (e.g. {worst.name}: {human_bytes(worst.nbytes)} of a {human_bytes(worst.storage_nbytes)} "
            "storage)",
            location=listing([t.name for t in views], 3),
            fix=program or "Run the command shown: it writes compact copies",
            applicability=file_applicability(facts.models[0]), advice=program is None,
            command=file_command(facts.models[0]),
        )


@check(
    "OD123", "not-a-state-dict", Severity.WARNING, "checkpoint", scope="file",
    fix="Save the weights as a mapping of names to tensors: torch.save(model.state_dict(), path)",
    bad=[ex.saved(ex.list_of_tensors, "list-of-tensors")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def not_a_state_dict(facts: CheckpointFacts) -> Iterator[Problem]:
    """Tensors were found, but not as a mapping of names to tensors.

    What it detects:
        A file whose tensors sit in lists or tuples (`torch.save(list(model.parameters()))`,
        `torch.save([w1, w2])`) rather than in a dict keyed by parameter name.
    Why it matters:
        `load_state_dict` needs names: a list of tensors cannot be loaded into a model, and
        the order of `parameters()` is not a contract.
    Fix:
        Save `model.state_dict()` where the model is trained.
    Example:
        `torch.save([p.detach() for p in model.parameters()], path)`
    """
    if facts.unsafe or facts.problem or facts.format in ("torchscript", "torch-export"):
        return
    if not any(m.weights for m in facts.models) and facts.tensors:
        yield Problem(f"{count(len(facts.tensors), 'tensor')}, but no mapping of names to tensors (a list or tuple "
                      "holds them): load_state_dict cannot take them",
                      location=listing([t.name for t in facts.tensors], 3))


@check(
    "OD125", "hostile-structure", Severity.ERROR, "checkpoint", scope="file",
    fix="Do not load this file: get the weights from their source. For a genuine giant: ocrdoctor check --no-limits",
    bad=[ex.raw(ex.nested_lists(20_000), "nested-20000-levels", ".pkl"),
         ex.Example(ex.deflate_bomb, "deflate-bomb-data-pkl")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def hostile_structure(facts: CheckpointFacts) -> Iterator[Problem]:
    """The file is built to exhaust a reader: the read stopped at a limit no real checkpoint comes near.

    What it detects:
        Structure far beyond any real checkpoint, counted while the file is read and before
        anything big is built: zip directory entries, tar members or safetensors tensors
        (`entries`), tensor records and rebuilt objects (`records`), tensors viewing one storage
        (`shared`), distinct globals (`globals`), elements one tensor claims (`elements`), bytes a
        compressed member inflates to (`inflated`, judged from the directory, nothing inflated),
        bytes the pickles ask to be built (`materialised`: `bytearray(n)`, encoded strings), levels of
        nested containers (`nesting`), and a memo or length that asks for more memory than a
        checkpoint could need. The message says which limit, and how far past it the file went.
    Why it matters:
        A loader, or a scanner, that reads such a file runs for minutes or exhausts memory: a
        denial of service for a model registry's scanner or a server that loads uploads. The file
        is never fully read, so the other rules do not run on it; what its pickles named before the
        limit is still judged (OD101).
    Fix:
        Do not load the file; get the weights from their source. The limits are one table
        (`ocrdoctor.read.limits.TABLE`); `[tool.ocrdoctor.limits]` in pyproject.toml overrides any
        of them (`entries = 500000`) and `ocrdoctor check --no-limits` lifts them all, for a
        genuine giant.
    Example:
        A zip of a million directory entries; a 1 GiB deflate bomb as `data.pkl`; 200,000 tensors
        viewing one storage through the memo; `bytearray(2**28)` called four times.
    """
    if facts.hostile:
        yield Problem(f"built to exhaust a reader: {facts.hostile}; not read further. Raise the limit in "
                      "[tool.ocrdoctor.limits] or run with --no-limits for a genuine giant",
                      location=facts.hostile.rsplit("`", 2)[-2] if "`" in facts.hostile else None)
