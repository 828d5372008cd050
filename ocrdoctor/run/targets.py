"""The kinds of target a run looks at, one class each: its rule kind, its name, how it gathers its facts
and what it leads to (a checkpoint named with `--arch` leads to the model built from it).

`gather` is a context manager: what it yields stays valid (a checkpoint's mapping open) until the
target and everything it leads to are judged. A target whose facts cannot be had raises
`NotGathered` (its rules are skipped with the reason: not checked) or `NotBuilt` (the judgement the
user asked for could not be made: OD126). The loop (`run/loop.py`) does the rest, once for all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.engine import UsageError
from ..core.findings import TargetResult
from ..core.plan import Plan


class NotGathered(Exception):
    """The target's facts cannot be gathered here (a remote ONNX file): its rules are skipped with the reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotBuilt(Exception):
    """The model the user asked to be judged cannot be built: the reason, and how to get it built."""

    def __init__(self, reason: str, hint: str | None = None):
        super().__init__(reason)
        self.reason, self.hint = reason, hint


class Target:
    """One thing the rules look at."""

    kind: str = ""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def gather(self, plan: Plan) -> contextlib.AbstractContextManager:
        raise NotImplementedError

    def judge(self, plan: Plan, facts: Any) -> TargetResult:
        return plan.judge(self.kind, facts, self.name)

    def leads_to(self, plan: Plan, facts: Any) -> Sequence[Target]:
        return ()


@dataclass
class CheckpointFile(Target):
    """A checkpoint on this machine (a shard index reads as one checkpoint), read once without torch."""

    path: Path
    arch: str | None = None
    key: tuple | None = None
    build: bool = True  # with `arch`: lead to the model built from the file (a deployment builds its own)
    vocab: str | None = None  # --vocab: the recognizer is built with it
    kind = "checkpoint"
    kept: tuple | None = field(default=None, init=False, repr=False)  # (checkpoint, facts) while gathered

    @property
    def name(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[tuple[Any, Any]]:
        from ..inspect.checkpoint import facts_of
        from ..read.checkpoint import read_checkpoint
        from ..read.file import gc_paused

        with self.opened(plan, read_checkpoint) as ckpt, gc_paused():  # 100,000 tensor facts, none cyclic
            trusted = plan.settings.trusted_globals
            self.kept = (ckpt, facts_of(ckpt, self.arch, self.key, trusted))  # a deployment builds its halves from it
            yield self.kept

    def opened(self, plan: Plan, read) -> contextlib.AbstractContextManager:
        return read(self.path, plan.limits, plan.values_for(remote=False))

    def judge(self, plan: Plan, facts: Any) -> TargetResult:
        return plan.judge(self.kind, facts[1], self.name)

    def leads_to(self, plan: Plan, facts: Any) -> Sequence[Target]:
        if not (self.arch and self.build and "model" in plan.rules):
            return ()
        return (BuiltModel(*facts, self.arch, f"{self.name} as {self.arch}", self.vocab),)


@dataclass
class RemoteCheckpoint(CheckpointFile):
    """A checkpoint where it lives (https, s3, gs, hf), read in ranges; its facts say what reading it cost.
    A read the network failed is raised (read.remote.RemoteError): a run error, never a finding."""

    def opened(self, plan: Plan, read) -> contextlib.AbstractContextManager:
        return read(self.path, plan.limits, plan.values_for(remote=True), plan.timeout)

    def judge(self, plan: Plan, facts: Any) -> TargetResult:
        from dataclasses import replace

        result = super().judge(plan, facts)
        ckpt = facts[0]
        ckpt.raise_failure()  # a read that failed inside the rules' reading is the network's, not the file's
        return replace(result, summary={**result.summary, **ckpt.transfer_facts()})


@dataclass
class OnnxFile(Target):
    """An ONNX export: its graph read by onnx, run in onnxruntime in a child process."""

    path: Any
    kind = "onnx"

    @property
    def name(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[Any]:
        from ..read.remote import is_url

        if is_url(self.path):
            raise NotGathered("an ONNX export is read whole by onnx: download it and check the copy")
        from ..inspect.onnx import inspect_onnx

        yield inspect_onnx(self.path)


@dataclass
class BuiltModel(Target):
    """The docTR model built from a checkpoint already read, as it would be deployed."""

    ckpt: Any
    facts: Any
    arch: str
    label: str
    vocab: str | None = None
    kind = "model"

    @property
    def name(self) -> str:
        return self.label

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[Any]:
        from ..inspect.model import inspect_model

        yield inspect_model(built(self.ckpt, self.facts, self.arch, self.vocab), name="model")


def built(ckpt: Any, facts: Any, arch: str, vocab: str | None = None) -> Any:
    """The docTR model of `arch` over the read checkpoint, or NotBuilt saying why and the way out; a given vocab
    the file contradicts is the user's error (UsageError), never a finding."""
    from ..core.extras import MissingExtra, require_doctr
    from ..inspect.vocab import VocabError, with_vocab

    try:
        facts = with_vocab(facts, vocab)
    except VocabError as exc:
        raise UsageError(str(exc)) from None
    try:
        require_doctr("the model rules of --arch")
        from ..treat.build import BuildError, build_model
    except MissingExtra as exc:
        raise NotBuilt(str(exc), build_hint(str(exc))) from None
    try:
        return build_model(ckpt, arch, facts)
    except BuildError as exc:
        raise NotBuilt(str(exc), build_hint(str(exc))) from None


def build_hint(reason: str) -> str | None:
    """How to get a model built that could not be: the vocab sidecar when OD117 explains it, the extra when
    one is missing."""
    if "OD117" in reason:
        return ("OD117 explains it: check again with --vocab, or store the vocab beside the weights in "
                '<stem>.config.json ({"vocab": "...", "arch": "..."})')
    if "pip install" in reason:
        return "install the extra it names and check again"
    return None


@dataclass
class LiveModel(Target):
    """A live docTR predictor or torch module: devices, dtypes, modes and pre-processing, nothing moved or run."""

    obj: Any
    kind = "model"
    label: str = field(default="", init=False)

    @property
    def name(self) -> str:
        return self.label or "predictor"

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[Any]:
        from ..inspect.model import inspect_model

        facts = inspect_model(self.obj)
        self.label = facts.target
        yield facts


@dataclass
class OnnxtrPredictor(Target):
    """A live OnnxTR predictor's sessions, judged with the machine they run on."""

    obj: Any
    machine: Any = None
    kind = "onnxtr"
    label: str = field(default="", init=False)

    @property
    def name(self) -> str:
        return self.label or "predictor"

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[Any]:
        from ..inspect.onnxtr import inspect_onnxtr

        facts = inspect_onnxtr(self.obj, environment=self.machine)
        self.label = facts.target
        yield facts


@dataclass
class Machine(Target):
    """This machine (or the facts of another one, handed in: a GPU host's, for a test)."""

    facts: Any = None
    kind = "environment"

    @property
    def name(self) -> str:
        return "environment"

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[Any]:
        if self.facts is None:
            from ..inspect.environment import inspect_environment

            self.facts = inspect_environment()
        yield self.facts


@dataclass
class ComparedPage(Target):
    """One page read by both sides of a comparison (inspect.comparison.PageFacts)."""

    page: Any
    kind = "comparison"

    @property
    def name(self) -> str:
        return self.page.name

    @contextlib.contextmanager
    def gather(self, plan: Plan) -> Iterator[Any]:
        yield self.page


KINDS = (CheckpointFile, RemoteCheckpoint, OnnxFile, BuiltModel, LiveModel, OnnxtrPredictor, Machine, ComparedPage)
