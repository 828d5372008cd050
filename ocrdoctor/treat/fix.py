"""`ocrdoctor fix`: write a clean copy of a checkpoint that loses nothing a deployment needs, then prove it.

The clean copy is each model's bare state_dict: taken from wherever the file keeps it (a key,
Lightning's prefix, an EMA copy with `--key`, a pickled model's module tree read without running
it), without training state, without DataParallel / torch.compile prefixes, on the CPU, every
tensor compact; optionally cast (`--dtype`), FAST reparameterized, or safetensors. The model's
config (docTR's keys: arch, vocab, mean, std, input_shape) is kept: in the safetensors metadata,
else in a sidecar named after the output (`det.pt` -> `det.config.json`).

The input is never written. Each output is written to a temporary file beside it, fsynced and
verified there: it reloads weights-only, every kept tensor equals its source bit for bit (or after
the requested cast), and it loads strictly into the architecture when one is known. Only a
verified file is renamed into place; "verified" is printed only when every step passed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..anatomy.architectures import arch_names, strip_wrappers
from ..anatomy.halfcpu import on_this_cpu
from ..anatomy.versions import FAST_FUSION_UNSOUND, fast_fusion_sound
from ..core.extras import require_doctr
from ..core.guard import guard
from ..core.registry import one_line
from ..core.units import count, human_bytes, subscript
from ..inspect.checkpoint import CheckpointFacts, facts_of, weights_of
from ..inspect.config import ModelConfig, files_read_by, sidecar_path
from ..inspect.vocab import VocabError, with_vocab
from ..read.checkpoint import read_checkpoint
from ..read.file import Checkpoint
from .build import _apply_config, empty_model

T = TypeVar("T")
DTYPES = ("float32", "float16", "bfloat16")


class FixError(Exception):
    """The repair was refused or failed; one line, and nothing left on disk."""


@dataclass(frozen=True)
class FixResult:
    output: Path
    size_before: int
    size_after: int
    removed: tuple[str, ...]
    changes: tuple[str, ...]
    verified: tuple[str, ...]
    config: Path | None = None  # the sidecar written beside the output, if any
    member: str | None = None
    proof: str | None = None  # a --dtype cast: the words read before and after, on the pair's samples
    note: str | None = None  # a half --dtype: what OD205 would say of it on this CPU

    def describe(self) -> str:
        ratio = self.size_after / self.size_before if self.size_before else 0
        which = f" [{self.member}]" if self.member else ""
        lines = [f"wrote {self.output}{which} ({human_bytes(self.size_after)}, was {human_bytes(self.size_before)}: "
                 f"{ratio:.2f}x)"]
        if self.removed:
            lines.append("removed: " + ", ".join(self.removed))
        if self.changes:
            lines.append("changed: " + "; ".join(self.changes))
        if self.config is not None:
            lines.append(f"kept: the model config in {self.config}")
        lines.append("verified: " + "; ".join(self.verified))
        if self.proof:
            lines.append(f"in words: {self.proof}")
        if self.note:
            lines.append(f"note: {self.note} (served on a GPU, it is not)")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Plan:
    facts: CheckpointFacts  # the model's
    output: Path
    state: dict
    removed: list[str]
    changes: list[str]
    config: ModelConfig | None
    before: dict | None = None  # the weights before a --dtype cast: what the reading proof compares with


def fix_checkpoint(source: str | Path, output: str | Path, *, arch: str | None = None, dtype: str | None = None,
                   safetensors: bool = False, force: bool = False, key: tuple | None = None,
                   half: bool = False, progress: Callable[[str], None] | None = None,
                   trusted: Sequence[str] = (), vocab: str | None = None) -> list[FixResult]:
    """Clean copies of the checkpoint's models: one file for one model; for a bundle, `output` is a folder.
    `progress(phase)` is told each phase as it starts; `vocab` (a docTR vocab's name, a file, the characters)
    is kept in the config sidecar of a recognizer that stores none."""
    require_doctr("ocrdoctor fix")
    say = progress or (lambda phase: None)
    dtype = "float16" if half else dtype
    source, output = Path(source), Path(output)
    safetensors = safetensors or output.suffix.lower() == ".safetensors"  # a torch.save file by that name would
    # not load: torch.load itself hands *.safetensors to safetensors
    if arch is not None and arch not in arch_names():
        raise FixError(f"unknown architecture '{arch}' (known: {', '.join(arch_names())})")
    if dtype is not None and dtype not in DTYPES:
        raise FixError(f"--dtype must be one of {', '.join(DTYPES)}")
    if not source.is_file():
        raise FixError(f"path not found: {source}")
    say(f"reading {source.name}")
    with read_checkpoint(source) as ckpt:
        try:
            facts = with_vocab(facts_of(ckpt, arch, key, trusted), vocab)
        except VocabError as exc:
            raise FixError(str(exc)) from None
        _readable(source, facts)
        outputs = _outputs(source, output, facts, safetensors, force)
        plans = [_plan(ckpt, facts, model, out, dtype) for model, out in zip(facts.models, outputs, strict=False)]
    return [_write(plan, facts.size, safetensors, dtype, force, say) for plan in plans]


def _readable(source: Path, facts: CheckpointFacts) -> None:
    if facts.unsafe_globals and not facts.extractable:
        raise FixError(f"refusing {source}: its pickle uses {', '.join(facts.unsafe_globals)} (OD101); "
                       "nothing in it was run")
    if facts.conflict:
        raise FixError(f"refusing {source}: {facts.conflict} (OD101); nothing in it was run")
    if facts.problem:
        raise FixError(f"cannot read {source}: {facts.problem}")
    if not any(m.weights for m in facts.models):
        if facts.unsafe_globals:  # extractable, but there is nothing to extract
            raise FixError(f"refusing {source}: its pickle uses {', '.join(facts.unsafe_globals)} (OD101) and holds "
                           "no weights to read out; nothing in it was run")
        raise FixError(f"no state_dict found in {source}")
    for model in facts.models:
        bad = [t for t in model.weights if t.nonfinite]
        if bad:
            values = count(sum(t.nonfinite for t in bad), "NaN/Inf value")
            raise FixError(f"refusing {source}: {values} in {count(len(bad), 'tensor')} "
                           f"(OD109, e.g. {bad[0].name}): a clean copy of broken weights is still broken")
        empty = [t for t in model.weights if not t.has_data]
        if empty:
            raise FixError(f"refusing {source}: {count(len(empty), 'tensor')} without data (OD122, e.g. "
                           f"{empty[0].name})")
        activation = [t.name for t in model.weights if t.name.endswith((".scale", ".zero_point"))]
        if any(t.kind == "quantized" for t in model.weights) and activation:
            raise FixError(f"refusing {source}: statically quantized weights (OD124) with activation scales "
                           f"({activation[0]}, ...) have no float layout to write; save the float model's "
                           "state_dict before quantizing it")


def _outputs(source: Path, output: Path, facts: CheckpointFacts, safetensors: bool, force: bool) -> list[Path]:
    """One output file, or for a bundle one file per model in the output folder; each held to the guard."""
    if not facts.members:
        check_output(source, output, force, config=_config(facts) is not None and not safetensors)
        return [output]
    if output.suffix or (output.exists() and not output.is_dir()):
        names = ", ".join(m.member for m in facts.members)
        raise FixError(f"{source} holds {count(len(facts.members), 'model')} ({names}): give a folder with -o to "
                       f"write each, or pick one with --key (e.g. --key {facts.members[0].member})")
    output.mkdir(parents=True, exist_ok=True)
    suffix = ".safetensors" if safetensors else ".pt"
    outputs = [output / f"{m.member}{suffix}" for m in facts.members]
    for model, out in zip(facts.members, outputs, strict=True):
        check_output(source, out, force, config=_config(model) is not None and not safetensors)
    return outputs


def check_output(source: Path, output: Path, force: bool, config: bool = False) -> None:
    """The output guard (core/guard.py), before anything is written: the file, its config sidecar when one will be
    written, and the temporary file beside it are held to everything reading `source` reads."""
    writes = [output, *([sidecar_path(output)] if config else [])]
    guard(writes, files_read_by([source]), force=force, scratch=[temp_path(output)])


def _plan(ckpt: Checkpoint, facts: CheckpointFacts, model: CheckpointFacts, output: Path, dtype: str | None) -> _Plan:
    state, changes, before = _clean_state(ckpt, model, dtype)
    match = model.architecture
    if match is None or not match.identified:  # renamed keys, storages on the CPU: what a plain load wants
        changes.append("the keys match no docTR architecture (OD112): written for a plain load_state_dict; this "
                       "model's own loader may expect the file as it was saved (not checked: no strict load)")
    if facts.untrusted_modules:  # read from the records, nothing run: the source itself stays unsafe to load
        changes.append(f"read the weights from a module tree of classes nothing models or trusts "
                       f"({', '.join(facts.untrusted_modules[:3])}; OD101): do not load the source file")
    removed = [f"{e.key} ({human_bytes(e.nbytes)})" if e.tensors else e.key for e in facts.entries
               if e.key not in ("vocab", "config", "cfg")]
    config = _config(model)
    return _Plan(model, output, state, removed, changes, config, before)


def _config(model: CheckpointFacts) -> ModelConfig | None:
    return model.kept_config()


def _clean_state(ckpt: Checkpoint, model: CheckpointFacts, dtype: str | None) -> tuple[dict, list[str], dict | None]:
    """The weights as fresh, compact CPU tensors (cloned out of the mapped file), what changed, and the weights
    before a dtype cast (None without one)."""
    import torch

    from .materialize import MaterializeError, state_dict

    try:
        state = state_dict(ckpt, weights_of(ckpt, model))
    except MaterializeError as exc:
        raise FixError(f"cannot rebuild the weights of {ckpt.path}: {exc}") from None
    changes = []
    quantized = [t for t in model.weights if t.kind == "quantized"]
    if quantized:
        changes.append(f"dequantized {count(len(quantized), 'tensor')} "
                       f"({', '.join(sorted({t.dtype for t in quantized}))}) "
                       "to float32, under the float model's keys")
    if model.weights_origin == "module":
        classes = count(len(model.module_globals), "class", "classes")
        changes.append(f"read the weights from the pickled model's module tree ({classes}, none imported)")
    elif model.weights_path:
        changes.append(f"unwrapped the weights from {subscript(model.weights_path)}")
    match = model.architecture
    prefix = match.prefix if match is not None and match.identified else strip_wrappers(list(state))
    if prefix:
        state = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
        changes.append(f"stripped the {prefix!r} prefix")
    devices = sorted({t.device for t in model.weights if t.device != "cpu"})
    if devices:
        changes.append(f"mapped storages to the CPU (saved from {', '.join(devices)})")
    before = None
    if dtype is not None:
        target = getattr(torch, dtype)
        floating = {str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()}
        if floating != {dtype}:
            before = {k: v.detach().clone() for k, v in state.items()}  # the mapped file closes before the write
            state = {k: v.to(target) if v.is_floating_point() else v for k, v in state.items()}
            changes.append(f"cast floating tensors to {dtype} (were {', '.join(sorted(floating))})")
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    if match is not None and match.identified and match.arch.startswith("fast") and match.form == "training":
        if fast_fusion_sound():
            state = _reparameterized(state, match)
            changes.append(f"reparameterized {match.arch}")
        else:
            changes.append(f"left {match.arch} in its training form: {FAST_FUSION_UNSOUND}")
    return state, changes, before


def _reparameterized(state: dict, match) -> dict:
    from doctr.models.detection.fast import reparameterize

    model = empty_model(match.arch, match)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FixError(f"cannot reparameterize: the weights do not load into {match.arch}: {one_line(exc)}") from None
    dtype = next(iter(state.values())).dtype
    return {k: v.detach().clone() for k, v in reparameterize(model.float()).to(dtype).state_dict().items()}


def _write(plan: _Plan, size_before: int, safetensors: bool, dtype: str | None, force: bool,
           say: Callable[[str], None]) -> FixResult:
    metadata = _metadata(plan.config) if safetensors else None
    sidecar = None if safetensors or plan.config is None else sidecar_path(plan.output)
    if sidecar is not None and sidecar.exists() and not force:
        raise FixError(f"{sidecar} exists (pass --force to overwrite it); nothing was written")

    def save(tmp: Path) -> None:
        say(f"writing {plan.output.name}")
        _save(plan.state, tmp, safetensors, metadata)

    def verify(tmp: Path) -> Any:
        say(f"verifying {plan.output.name} (reread, reloaded, compared" + (", read in words)" if dtype else ")"))
        return _verify(tmp, plan, dtype)

    verified, proof = write_atomically(plan.output, save, verify)
    if sidecar is not None:
        write_atomically(sidecar, lambda tmp: tmp.write_text(json.dumps(plan.config.to_dict(), indent=2,
                                                                        ensure_ascii=False) + "\n"),
                         lambda tmp: None)
    kept = plan.output if safetensors and metadata else sidecar
    return FixResult(plan.output, size_before, plan.output.stat().st_size, tuple(plan.removed), tuple(plan.changes),
                     tuple(verified), kept if plan.config is not None else None, plan.facts.member, proof,
                     on_this_cpu(dtype) if dtype else None)


def _metadata(config: ModelConfig | None) -> dict[str, str] | None:
    """docTR's config keys as safetensors metadata (strings: the vocab as is, the rest as JSON)."""
    if config is None:
        return None
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.to_dict().items()}


def _save(state: dict, path: Path, safetensors: bool, metadata: dict[str, str] | None = None) -> None:
    if safetensors:
        from safetensors.torch import save_file

        save_file(state, str(path), metadata=metadata)
    else:
        import torch

        torch.save(state, path)


def write_atomically(output: Path, write: Callable[[Path], None], verify: Callable[[Path], T]) -> T:
    """Temp file beside the output, fsync, verify, rename: the output is complete and verified, or absent.

    `write` failing (a full disk, say) is a FixError; `verify` raises FixError itself.
    """
    tmp = temp_path(output)
    try:
        try:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it: writers differ (safetensors: 0600)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        except FixError:
            raise
        except Exception as exc:
            raise FixError(f"could not write {output}: {one_line(exc)}") from None
        result = verify(tmp)
        os.replace(tmp, output)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """This process's umask (reading it means setting it: restored at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_path(output: Path) -> Path:
    """A hidden sibling that keeps the output's suffix (tools that sniff suffixes read it alike)."""
    return output.with_name(f".{output.name}.ocrdoctor-{os.getpid()}{output.suffix}")


def _verify(output: Path, plan: _Plan, dtype: str | None) -> tuple[list[str], str | None]:
    """Every step, on the file just written: reread by the reader, reloaded weights-only (the one
    torch.load here, on ocrdoctor's own output), compared bit for bit, loaded strictly."""
    import torch

    from ..inspect.checkpoint import inspect_checkpoint

    expected = plan.state
    facts = inspect_checkpoint(output)
    if facts.problem or facts.weights_path != () or facts.weights is None or facts.unsafe:
        raise FixError(f"verification failed: the output does not reread as a bare state_dict "
                       f"({facts.problem or 'wrapped'})")
    if facts.format == "safetensors":
        from safetensors.torch import load_file

        written: Any = load_file(str(output))
    else:
        written = torch.load(output, map_location="cpu", weights_only=True)
    if set(written) != set(expected):
        raise FixError(f"verification failed: {count(len(set(expected) ^ set(written)), 'key')} differ")
    differ = [k for k, v in expected.items() if v.dtype != written[k].dtype or not torch.equal(v, written[k])]
    if differ:
        raise FixError(f"verification failed: {count(len(differ), 'tensor')} not as in the source (e.g. {differ[0]})")
    checks = ["reloads weights-only", f"{count(len(expected), 'tensor')} bit-identical to the source's"
              + (f" after the {dtype} cast" if dtype else "")]
    match = plan.facts.architecture
    if match is not None and match.identified:
        loaded, model = _strict_load(written, match, plan.config)
        checks.append(loaded)
        if plan.before is not None:
            return checks, _reading_proof(model, plan.before)
    return checks, None


def _reading_proof(after: Any, before_state: dict) -> str:
    """The cast model and the model before the cast on the pair's samples: the words they read."""
    import copy

    from .proof import prove

    before = copy.deepcopy(after)
    try:
        before.load_state_dict(before_state, strict=True)
    except RuntimeError as exc:  # a form the cast changed (FAST fused after it): no like-for-like reading
        return f"not proven in words: the weights before the cast do not load alike ({one_line(exc)})"
    return prove(before.float().eval(), after.float().eval()).describe()


def _strict_load(written: dict, match, config: ModelConfig | None) -> tuple[str, Any]:
    fused = match.arch.startswith("fast") and (match.form != "training" or fast_fusion_sound())
    vocab = config.vocab if config is not None and config.vocab and len(config.vocab) == match.head_size else None
    try:
        model = empty_model(match.arch, match, vocab=vocab, reparameterized=fused)
        _apply_config(model, config)
        model.load_state_dict(written, strict=True)
    except RuntimeError as exc:
        raise FixError(f"verification failed: does not load strictly into {match.arch}: {one_line(exc)}") from None
    form = " (reparameterized)" if fused else ""
    head = f" with a {match.head} of {match.head_size}" if match.custom_head else ""
    kept = " and its stored vocab" if vocab else ""
    return f"loads strictly into {match.arch}{form}{head}{kept}", model
