"""Turn what the reader found in a checkpoint into plain facts. No judgement here: that is the checks' job.

The reader (`ocrdoctor.read`) never imports torch and never runs the file: it walks every pickle
a loader would reach with stubs, and reads values from the storage bytes with numpy. Here the
object it rebuilt is searched for the models it holds (`inspect.weights`: a state_dict under
any key, Lightning's prefix, EMA copies, bundles, a pickled model's module tree), the config
stored with each (`inspect.config`), what sits beside them, and the architecture each fits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from ..anatomy.architectures import THRESHOLD, ArchMatch, identify
from ..anatomy.training import Training, training
from ..anatomy.untrained import Evidence, evidence, fused_evidence
from ..anatomy.versions import Installed
from ..core.findings import Skip
from ..core.units import count
from ..read.checkpoint import read_checkpoint
from ..read.fields import FormatError
from ..read.file import Checkpoint, gc_paused, walk
from ..read.limits import Hostile
from ..read.records import Tensor, is_floating
from ..read.safety import judge, merged
from ..read.shards import shard_position
from ..read.stubs import StubObject
from ..read.values import Stats
from .config import ModelConfig, stored_config
from .quantized import consumed
from .weights import EMA, WeightSet, WeightsKeyError, ema_paths, find_models, format_key

_MAX_DEPTH = 8
PROGRAMS = ("torchscript", "torch-export")  # deployable programs, not state_dicts (OD121)


class TensorInfo(NamedTuple):
    """One tensor's facts (a named tuple: a file can hold 100,000 of them)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    device: str  # the device tag it was saved with, e.g. "cpu" or "cuda:0"
    nbytes: int
    storage: str  # the storage key, to tell views and shared tensors apart
    storage_nbytes: int
    kind: str = "dense"  # dense | quantized | meta | sparse | nested | subclass
    has_data: bool = True  # False: saved without data (meta) or its storage is missing
    nonfinite: int = 0  # NaN and Inf values
    minimum: float | None = None  # of the finite values (None without statistics)
    maximum: float | None = None
    mean: float | None = None

    @property
    def floating(self) -> bool:
        return is_floating(self.dtype)

    @property
    def constant(self) -> float | None:
        """The one value of a tensor whose elements are all equal."""
        if self.nonfinite == 0 and self.minimum is not None and self.minimum == self.maximum:
            return self.minimum
        return None


@dataclass(frozen=True)
class Entry:
    """Something stored next to the weights: `optimizer`, `epoch`, ..."""

    key: str
    kind: str
    nbytes: int
    tensors: int


@dataclass(frozen=True)
class CheckpointFacts:
    """One file's facts; for a file holding several models, one of these per model in `members`."""

    path: str
    size: int
    format: str  # zip | legacy | tar | pickle | safetensors | torchscript | torch-export | unknown
    problem: str | None = None  # why the file could not be read (whole or in part)
    hostile: str | None = None  # the limit a file built to exhaust a reader passed (OD125): not read further
    unsafe_globals: tuple[str, ...] = ()  # "posix.system (called)": what a loader would run
    conflict: str | None = None  # loaders would read different pickles
    module_globals: tuple[str, ...] = ()  # the classes a pickled nn.Module needs imported
    user_modules: tuple[str, ...] = ()  # of those, the ones the team trusts (not from torch, torchvision or docTR)
    untrusted_modules: tuple[str, ...] = ()  # classes given a module's state that nothing models or trusts (OD101)
    outside_weights_only: tuple[str, ...] = ()  # names torch's default weights-only load refuses
    not_by_name: tuple[str, ...] = ()  # containers torch's weights-only loader cannot fill, names allowed or not
    pickled_module: bool = False
    member: str | None = None  # the model's name inside a file holding several ("model.reco")
    members: tuple[CheckpointFacts, ...] = ()  # every model of a bundle (each with `member` set)
    weights_path: tuple | None = None  # keys leading to the state_dict; () when the file is one
    weights_origin: str = "state_dict"  # state_dict | ema | module (read from a pickled model's tree)
    weights: tuple[TensorInfo, ...] | None = None
    entries: tuple[Entry, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()  # every tensor in the file, weights included
    architecture: ArchMatch | None = None
    requested_arch: str | None = None
    config: ModelConfig | None = None  # vocab, mean/std, input shape stored with the weights or beside them
    ema: tuple[str, ...] = ()  # keys of EMA copies (a second set of weights, not training state)
    metadata: dict[str, str] | None = None  # safetensors __metadata__
    shards: int = 0  # read through a shard index: how many shards were joined
    shard: tuple[int, int] | None = None  # a file named as the i-th of n shards, checked alone
    versions: Mapping[str, str] = field(default_factory=dict)  # installed torch, docTR, numpy: fixes fit them
    values: bool = True  # tensor values were read (False with `--values none`: the value rules skip)

    @property
    def unsafe(self) -> bool:
        return bool(self.unsafe_globals or self.conflict)

    @property
    def extractable(self) -> bool:
        """Its weights can be read from the records without running anything: safe, or unsafe only because its
        module classes are not modelled or trusted (fix and build read tensors, never the pickle's code)."""
        if not self.unsafe:
            return True
        untrusted = {f"{name} (" for name in self.untrusted_modules}
        return not self.conflict and all(any(u.startswith(c) for c in untrusted) for u in self.unsafe_globals)

    def kept_config(self) -> ModelConfig | None:
        """The config a rewrite keeps beside the weights: the stored one, the architecture named when it is known
        (what `ocrdoctor fix` and every printed program write to `<stem>.config.json`)."""
        stored = self.config
        if stored is None:
            return None
        arch = self.architecture.arch if _known(self) else None
        return replace(stored, arch=stored.arch or arch)

    @property
    def models(self) -> tuple[CheckpointFacts, ...]:
        """The facts per model: the members of a bundle, else these facts themselves."""
        return self.members or (self,)

    @cached_property
    def untrained(self) -> Evidence | None:
        """Exact evidence that every weight is at its initialization (OD116), or None; read once for OD110 too."""
        leaves = self._leaves
        fused = self.architecture is not None and self.architecture.form == "reparameterized"
        return evidence(leaves) or (fused_evidence(leaves) if fused else None)

    @cached_property
    def training(self) -> Training | None:
        """Per-block evidence of how much the weights were trained (OD127, OD128), read once."""
        prefix = self.architecture.prefix if self.architecture is not None else ""
        return training(self._leaves, prefix)

    @cached_property
    def _leaves(self) -> dict[str, TensorInfo]:
        """The weights by name, built once for the untrained and training evidence."""
        return {t.name: t for t in self.require_weights()}

    def require_weights(self) -> tuple[TensorInfo, ...]:
        """The state_dict's tensors, or Skip with the reason they were not read."""
        if self.unsafe:
            raise Skip("not checked: the file is unsafe to load (OD101)")
        if self.hostile:
            raise Skip("not read further: the file is built to exhaust a reader (OD125)")
        if self.weights is None:
            raise Skip("the file could not be read" if self.problem else "no state_dict found in the file")
        return self.weights

    @property
    def weights_key(self) -> str | None:
        """The weights' location for messages: "model", "checkpoint.state_dict", or ""."""
        return None if self.weights_path is None else ".".join(map(str, self.weights_path))

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"format": self.format, "bytes": self.size}
        if self.members:
            out["models"] = "; ".join(f"{m.member}: {m.architecture.describe()}" if _known(m) else
                                      f"{m.member}: {count(len(m.weights or ()), 'tensor')}" for m in self.members)
        if self.weights is not None:
            out["tensors"] = len(self.weights)
            out["weights_key"] = self.weights_key if self.weights_origin != "module" else "(module tree)"
        if _known(self):
            out["architecture"] = self.architecture.describe()
        if self.requested_arch:
            out["checked_against"] = self.requested_arch
        if self.config is not None:
            out["config"] = self.config.source
        if self.ema:  # a second set of weights (EMA, SWA): checked only when asked for with --key
            out["other_weights"] = ", ".join(self.ema)
        if self.shards:
            out["shards"] = self.shards
        if self.shard:
            out["shard"] = "{} of {}".format(*self.shard)
        return out


def _known(facts: CheckpointFacts) -> bool:
    return facts.architecture is not None and facts.architecture.score >= THRESHOLD


def inspect_checkpoint(path: str | Path, arch: str | None = None, key: tuple | None = None,
                       trusted: Sequence[str] = ()) -> CheckpointFacts:
    """Facts about one checkpoint; never raises for bad content (that becomes `problem`)."""
    with read_checkpoint(path) as ckpt, gc_paused():
        return facts_of(ckpt, arch, key, trusted)


def facts_of(ckpt: Checkpoint, arch: str | None = None, key: tuple | None = None,
             trusted: Sequence[str] = ()) -> CheckpointFacts:
    """The facts of a checkpoint already read (`check --arch` builds the model from the same read).

    `key` picks the weights (`--key model.reco`); raises WeightsKeyError when it names nothing. `trusted`: the
    classes the team trusts to be rebuilt as modules (`trusted-globals`).
    """
    hostile = ckpt.hostile
    verdicts = []
    for part in getattr(ckpt, "shards", None) or [ckpt]:  # each shard's pickles judged on their own
        try:
            verdicts.append(judge(part.uses, part.format, part.root, trusted))
        except Hostile as exc:  # nesting found while judging: the globals named so far are still judged
            hostile = hostile or str(exc)
            verdicts.append(judge(part.uses, part.format, None, trusted))
    verdict = merged(verdicts)
    base = CheckpointFacts(
        path=ckpt.path, size=ckpt.size, format=ckpt.format, problem=ckpt.problem, hostile=hostile,
        unsafe_globals=verdict.unsafe, conflict=ckpt.layout.conflict, module_globals=verdict.modules,
        user_modules=verdict.user_modules, untrusted_modules=verdict.untrusted_modules,
        outside_weights_only=verdict.outside_weights_only,
        not_by_name=verdict.not_by_name,
        pickled_module=verdict.pickled_module, requested_arch=arch, metadata=ckpt.layout.metadata,
        versions=Installed(), shards=len(getattr(ckpt, "shards", ())),
        shard=None if hasattr(ckpt, "shards") else shard_position(ckpt.path), values=ckpt.values,
    )
    if ckpt.root is None or not base.extractable or ckpt.problem or hostile or ckpt.format in PROGRAMS:
        return base
    try:  # a module tree is walked for its weights, trusted or not: reading records runs nothing
        sets = find_models(ckpt.root, verdict.pickled_module or bool(verdict.untrusted_modules), key)
    except WeightsKeyError as exc:
        return replace(base, problem=str(exc))
    past = next(((name, t) for ws in sets for name, t in ws.tensors if t.past_storage), None)
    if past is not None:
        name, t = past
        return replace(base, problem=f"tensor {name} views {t.span:,} elements from offset {t.offset:,} of a storage "
                                     f"of {t.storage.numel:,}: torch.load fails (the view reaches past its storage)")
    if not sets:
        return replace(base, tensors=tuple(_info(ckpt, name, t) for name, t in walk(ckpt.root)))
    try:  # storages are located lazily: a damaged archive can show only now, as torch.load would fail
        models = [_model_facts(ckpt, base, ws, arch if len(sets) == 1 else None) for ws in sets]
        tensors = _all_tensors(ckpt, models)
    except FormatError as exc:
        return replace(base, problem=str(exc))
    except Hostile as exc:  # views that overlap far beyond their storage: the values are not read
        return replace(base, hostile=str(exc))
    entries = tuple(_entries(ckpt.root, [ws.path for ws in sets], tensors)) if sets[0].origin != "module" else ()
    ema = tuple(format_key(p) for p in ema_paths(ckpt.root) if p not in [ws.path for ws in sets])
    if len(models) == 1:
        return replace(models[0], tensors=tensors, entries=entries, ema=ema)
    members = tuple(replace(m, member=ws.member, tensors=tensors, entries=entries, ema=ema)
                    for m, ws in zip(models, sets, strict=False))
    return replace(base, members=members, tensors=tensors, entries=entries, ema=ema)


def _model_facts(ckpt: Checkpoint, base: CheckpointFacts, ws: WeightSet, arch: str | None) -> CheckpointFacts:
    records = [t for _, t in ws.tensors]
    stats = ckpt.statistics(records)
    infos = tuple(_info(ckpt, name, t, s) for (name, t), s in zip(ws.tensors, stats, strict=False))
    match = None if base.shard and not arch else identify({t.name: t.shape for t in infos}, arch)
    config = stored_config(ckpt.root, ws.path, ckpt.layout.metadata, Path(ckpt.path),
                           match.task if match is not None and match.identified else None)
    return replace(base, weights_path=ws.path if ws.origin != "module" else None, weights_origin=ws.origin,
                   weights=infos, architecture=match, config=config)


def _all_tensors(ckpt: Checkpoint, models: list[CheckpointFacts]) -> tuple[TensorInfo, ...]:
    """Every tensor in the file, the weights' facts reused (with their full dotted names)."""
    root = ckpt.root
    if len(models) == 1 and models[0].weights_path == () and isinstance(root, dict) \
            and len(root) == len(models[0].weights):
        return models[0].weights  # a bare state_dict: the file's tensors are the weights
    known = {}
    for m in models:
        for info in m.weights or ():
            known.setdefault((info.storage, info.shape, info.nbytes), info)
    out = []
    for name, t in walk(root):
        info = _info(ckpt, name, t)
        found = known.get((info.storage, info.shape, info.nbytes))
        out.append(TensorInfo(name, *found[1:]) if found is not None else info)
    return tuple(out)


def _info(ckpt: Checkpoint, name: str, t: Tensor, stats: Stats | None = None) -> TensorInfo:
    s = t.storage
    if s is None:
        return TensorInfo(name, t.shape, t.dtype, t.device, t.nbytes, f"<no storage: {name}>", 0, t.kind, False)
    has_data = ckpt.layout.data.has(s.key)
    if stats is None:
        return TensorInfo(name, t.shape, t.dtype, s.device, t.nbytes, s.key, s.nbytes, t.kind, has_data)
    return TensorInfo(name, t.shape, t.dtype, s.device, t.nbytes, s.key, s.nbytes, t.kind, has_data,
                      stats.nonfinite, stats.minimum, stats.maximum, stats.mean)


def weights_of(ckpt: Checkpoint, facts: CheckpointFacts) -> list[tuple[str, Tensor]]:
    """The weight records the facts describe (one model's), from the same read, for building the model."""
    key = facts.weights_path if facts.weights_path and facts.member is None else None
    for ws in find_models(ckpt.root, facts.pickled_module, key):
        if facts.member is None or ws.member == facts.member:
            return list(ws.tensors)
    return []


def _entries(obj: Any, paths: list[tuple], tensors: tuple[TensorInfo, ...]) -> Iterator[Entry]:
    """What sits next to the weights: top-level siblings, or non-tensors inside a flat state_dict."""
    if not isinstance(obj, dict):
        return
    tops = {p[0] for p in paths if p}
    flat = any(p == () for p in paths)
    converted = consumed(obj) if flat else set()  # packed quantized parameters: weights, not entries
    for raw_key, value in obj.items():
        key = str(raw_key)
        if raw_key in tops or (flat and isinstance(value, Tensor)) or key in converted:
            continue
        inside = [t for t in tensors if t.name == key or t.name.startswith(f"{key}.")]
        storage_bytes = sum({t.storage: t.storage_nbytes for t in inside}.values())
        kind = "ema weights" if EMA.search(key) and inside else kind_of(value)
        yield Entry(key, kind, storage_bytes + plain_bytes(value), len(inside))


def kind_of(value: Any) -> str:
    return value.global_name.rsplit(".", 1)[-1] if isinstance(value, StubObject) else type(value).__name__


def plain_bytes(value: Any, depth: int = 0) -> int:
    """About what the non-tensor parts of a value take in the pickle."""
    if isinstance(value, Tensor) or depth > _MAX_DEPTH:
        return 0
    if isinstance(value, (str, bytes, bytearray)):
        return len(value) + 5
    if isinstance(value, StubObject):
        return 32 + plain_bytes(value.__dict__.get("state"), depth + 1) + plain_bytes(dict(value), depth + 1)
    if isinstance(value, dict):
        return 2 + sum(plain_bytes(k, depth + 1) + plain_bytes(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 2 + sum(plain_bytes(v, depth + 1) for v in value)
    return 9
