"""`ocrdoctor fix`: write a clean copy of a checkpoint, then prove it.

The clean copy is the bare state_dict: unwrapped from its key, without training state, without
DataParallel / torch.compile prefixes, on the CPU, every tensor compact; optionally float16,
FAST reparameterized, or safetensors. The input is never written. The output is written to a
temporary file beside it, fsynced and verified there: it reloads weights-only, every kept tensor
equals its source bit for bit (or after the requested cast), and it loads strictly into the
architecture when one is known. Only a verified file is renamed into place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from .architectures import THRESHOLD, arch_names, strip_wrappers
from .build import empty_model, require_doctr
from .inspect.checkpoint import CheckpointFacts, facts_of, inspect_checkpoint, weights_of
from .read.checkpoint import Checkpoint, read_checkpoint
from .registry import one_line
from .units import human_bytes, subscript


T = TypeVar("T")


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

    def describe(self) -> str:
        ratio = self.size_after / self.size_before if self.size_before else 0
        lines = [f"wrote {self.output} ({human_bytes(self.size_after)}, was {human_bytes(self.size_before)}: {ratio:.2f}x)"]
        if self.removed:
            lines.append("removed: " + ", ".join(self.removed))
        if self.changes:
            lines.append("changed: " + "; ".join(self.changes))
        lines.append("verified: " + "; ".join(self.verified))
        return "\n".join(lines)


def fix_checkpoint(source: str | Path, output: str | Path, *, arch: str | None = None, half: bool = False,
                   safetensors: bool = False, force: bool = False) -> FixResult:
    require_doctr("ocrdoctor fix")
    source, output = Path(source), Path(output)
    if arch is not None and arch not in arch_names():
        raise FixError(f"unknown architecture '{arch}' (known: {', '.join(arch_names())})")
    if not source.is_file():
        raise FixError(f"path not found: {source}")
    with read_checkpoint(source) as ckpt:
        facts = _readable(source, facts_of(ckpt, arch))
        check_output(source, output, force)
        state, removed, changes = _clean_state(ckpt, facts, half)
    match = facts.architecture if facts.architecture and (arch or facts.architecture.score >= THRESHOLD) else None
    if match is not None and match.arch.startswith("fast") and match.form == "training":
        state = _reparameterized(state, match)
        changes.append(f"reparameterized {match.arch}")
    verified = write_atomically(output, lambda tmp: _save(state, tmp, safetensors),
                                lambda tmp: _verify(tmp, state, match, half))
    return FixResult(output, facts.size, output.stat().st_size, tuple(removed), tuple(changes), tuple(verified))


def _readable(source: Path, facts: CheckpointFacts) -> CheckpointFacts:
    if facts.unsafe_globals:
        raise FixError(f"refusing {source}: its pickle uses {', '.join(facts.unsafe_globals)} (OD101); "
                       "nothing in it was run")
    if facts.conflict:
        raise FixError(f"refusing {source}: {facts.conflict} (OD101); nothing in it was run")
    if facts.weights is None:
        raise FixError(f"cannot read {source}: {facts.problem}" if facts.problem else f"no state_dict found in {source}")
    if facts.problem:
        raise FixError(f"cannot read {source}: {facts.problem}")
    return facts


def check_output(source: Path, output: Path, force: bool) -> None:
    """Refuse, before any work, an output that is the input, exists, or cannot be written."""
    if output.resolve() == source.resolve():
        raise FixError("refusing to overwrite the input: choose another output path")
    if output.exists() and not force:
        raise FixError(f"{output} exists (pass --force to overwrite it)")
    if not output.parent.is_dir():
        raise FixError(f"output folder not found: {output.parent}")
    if not os.access(output.parent, os.W_OK):
        raise FixError(f"output folder not writable: {output.parent}")


def _clean_state(ckpt: Checkpoint, facts: CheckpointFacts, half: bool) -> tuple[dict, list[str], list[str]]:
    """The weights as fresh, compact CPU tensors (cloned out of the mapped file), and what changed."""
    from .materialize import MaterializeError, state_dict

    try:
        state = state_dict(ckpt, weights_of(ckpt, facts))
    except MaterializeError as exc:
        raise FixError(f"cannot rebuild the weights of {ckpt.path}: {exc}") from None
    removed = [f"{e.key} ({human_bytes(e.nbytes)})" if e.tensors else e.key for e in facts.entries]
    changes = []
    if facts.weights_origin == "module":
        changes.append(f"read the weights from the pickled model's module tree ({len(facts.module_globals)} classes, "
                       "none imported)")
    elif facts.weights_path:
        changes.append(f"unwrapped the weights from {subscript(facts.weights_path)}")
    prefix = strip_wrappers(list(state))
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items()}
        changes.append(f"stripped the {prefix!r} prefix")
    devices = sorted({t.device for t in facts.tensors if t.device != "cpu"})
    if devices:
        changes.append(f"mapped storages to the CPU (saved from {', '.join(devices)})")
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        changes.append("cast floating tensors to float16")
    return {k: v.detach().clone().contiguous() for k, v in state.items()}, removed, changes


def _reparameterized(state: dict, match) -> dict:
    from doctr.models.detection.fast import reparameterize

    model = empty_model(match.arch, match)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FixError(f"cannot reparameterize: the weights do not load into {match.arch}: {one_line(exc)}") from None
    dtype = next(iter(state.values())).dtype
    return {k: v.detach().clone() for k, v in reparameterize(model.float()).to(dtype).state_dict().items()}


def _save(state: dict, path: Path, safetensors: bool) -> None:
    if safetensors:
        from safetensors.torch import save_file

        save_file(state, str(path))
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


def temp_path(output: Path) -> Path:
    """A hidden sibling that keeps the output's suffix (tools that sniff suffixes read it alike)."""
    return output.with_name(f".{output.name}.ocrdoctor-{os.getpid()}{output.suffix}")


def _verify(output: Path, expected: dict, match, half: bool) -> list[str]:
    import torch

    facts = inspect_checkpoint(output)
    if facts.problem or facts.weights_path != () or facts.weights is None:
        raise FixError(f"verification failed: the output does not reload as a bare state_dict ({facts.problem or 'wrapped'})")
    if facts.format == "safetensors":
        from safetensors.torch import load_file

        written: Any = load_file(str(output))
    else:
        written = torch.load(output, map_location="cpu", weights_only=True)
    if set(written) != set(expected):
        raise FixError(f"verification failed: {len(set(expected) ^ set(written))} keys differ")
    differ = [k for k, v in expected.items() if v.dtype != written[k].dtype or not torch.equal(v, written[k])]
    if differ:
        raise FixError(f"verification failed: {len(differ)} tensors differ from the source (e.g. {differ[0]})")
    checks = ["reloads weights-only", f"{len(expected)} tensors bit-identical to the source's"
              + (" after the float16 cast" if half else "")]
    if match is not None:
        try:
            empty_model(match.arch, match, reparameterized=match.arch.startswith("fast")).load_state_dict(
                written, strict=True)
        except RuntimeError as exc:
            raise FixError(f"verification failed: does not load strictly into {match.arch}: {one_line(exc)}") from None
        form = " (reparameterized)" if match.arch.startswith("fast") else ""
        head = f" with a {match.head} of {match.head_size}" if match.custom_head else ""
        checks.append(f"loads strictly into {match.arch}{form}{head}")
    return checks
