"""Turn what the reader found in a checkpoint into plain facts. No judgement here: that is the checks' job.

The reader (`ocrdoctor.read`) never imports torch and never runs the file: it walks every pickle
a loader would reach with stubs, and reads values from the storage bytes with numpy. Here the
object it rebuilt is searched for the weights (a state_dict under any key, or the module tree
of a pickled model), what sits beside them, and the architecture they fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple

from ..architectures import THRESHOLD, ArchMatch, identify
from ..findings import Skip
from ..read.checkpoint import Checkpoint, gc_paused, read_checkpoint, walk
from ..read.records import Tensor, is_floating
from ..read.safety import Verdict, judge
from ..read.unpickler import StubObject
from ..read.values import Stats
from ..versions import Installed

# Where the weights usually sit inside a training checkpoint, most likely first.
WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
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
    std: float | None = None

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
    path: str
    size: int
    format: str  # zip | legacy | tar | pickle | safetensors | torchscript | torch-export | unknown
    problem: str | None = None  # why the file could not be read (whole or in part)
    unsafe_globals: tuple[str, ...] = ()  # "posix.system (called)": what a loader would run
    conflict: str | None = None  # loaders would read different pickles
    module_globals: tuple[str, ...] = ()  # the classes a pickled nn.Module needs imported
    user_modules: tuple[str, ...] = ()  # of those, the ones not from torch, torchvision or docTR
    outside_weights_only: tuple[str, ...] = ()  # names torch's default weights-only load refuses
    pickled_module: bool = False
    weights_path: tuple | None = None  # keys leading to the state_dict; () when the file is one
    weights_origin: str = "state_dict"  # or "module": read from a pickled model's module tree
    weights: tuple[TensorInfo, ...] | None = None
    entries: tuple[Entry, ...] = ()
    tensors: tuple[TensorInfo, ...] = ()  # every tensor in the file, weights included
    architecture: ArchMatch | None = None
    requested_arch: str | None = None
    metadata: dict[str, str] | None = None  # safetensors __metadata__
    versions: Mapping[str, str] = field(default_factory=dict)  # installed torch, docTR, numpy: fixes fit them

    @property
    def unsafe(self) -> bool:
        return bool(self.unsafe_globals or self.conflict)

    def require_weights(self) -> tuple[TensorInfo, ...]:
        """The state_dict's tensors, or Skip with the reason they were not read."""
        if self.unsafe:
            raise Skip("not checked: the file is unsafe to load (OD101)")
        if self.weights is None:
            raise Skip("the file could not be read" if self.problem else "no state_dict found in the file")
        return self.weights

    @property
    def weights_key(self) -> str | None:
        """The weights' location for messages: "model", "checkpoint.state_dict", or ""."""
        return None if self.weights_path is None else ".".join(map(str, self.weights_path))

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"format": self.format, "bytes": self.size}
        if self.weights is not None:
            out["tensors"] = len(self.weights)
            out["weights_key"] = self.weights_key if self.weights_origin == "state_dict" else "(module tree)"
        match = self.architecture
        if match is not None and match.score >= THRESHOLD:
            out["architecture"] = match.describe()
        if self.requested_arch:
            out["checked_against"] = self.requested_arch
        return out


def inspect_checkpoint(path: str | Path, arch: str | None = None) -> CheckpointFacts:
    """Facts about one checkpoint; never raises for bad content (that becomes `problem`)."""
    with read_checkpoint(path) as ckpt, gc_paused():
        return facts_of(ckpt, arch)


def facts_of(ckpt: Checkpoint, arch: str | None = None) -> CheckpointFacts:
    """The facts of a checkpoint already read (`check --arch` builds the model from the same read)."""
    verdict = judge(ckpt.uses, ckpt.format)
    base = CheckpointFacts(
        path=ckpt.path, size=ckpt.size, format=ckpt.format, problem=ckpt.problem,
        unsafe_globals=verdict.unsafe, conflict=ckpt.layout.conflict, module_globals=verdict.modules,
        user_modules=verdict.user_modules, outside_weights_only=verdict.outside_weights_only,
        pickled_module=verdict.pickled_module, requested_arch=arch, metadata=ckpt.layout.metadata,
        versions=Installed(),
    )
    if ckpt.root is None or base.unsafe or ckpt.problem or ckpt.format in PROGRAMS:
        return base
    return _with_arch(_weights_facts(ckpt, base, verdict), arch)


def _weights_facts(ckpt: Checkpoint, base: CheckpointFacts, verdict: Verdict) -> CheckpointFacts:
    found = find_weights(ckpt.root, verdict.pickled_module)
    if found is None:
        return replace(base, tensors=tuple(_info(ckpt, name, t) for name, t in walk(ckpt.root)))
    path, origin, weights = found
    stats = ckpt.statistics([t for _, t in weights])
    infos = tuple(_info(ckpt, name, t, s) for (name, t), s in zip(weights, stats))
    if path == () and origin == "state_dict" and len(ckpt.root) == len(infos):
        tensors = infos  # a bare state_dict: the file's tensors are the weights
    else:
        named = list(walk(ckpt.root))
        known = {id(t): info for (_, t), info in zip(weights, infos)}
        tensors = tuple(TensorInfo(name, *known[id(t)][1:]) if id(t) in known else _info(ckpt, name, t)
                        for name, t in named)
    entries = tuple(_entries(ckpt.root, path, tensors)) if origin == "state_dict" else ()
    return replace(base, weights_path=path if origin == "state_dict" else None, weights_origin=origin,
                   weights=infos, tensors=tensors, entries=entries)


def _info(ckpt: Checkpoint, name: str, t: Tensor, stats: Stats | None = None) -> TensorInfo:
    s = t.storage
    if s is None:
        return TensorInfo(name, t.shape, t.dtype, t.device, t.nbytes, f"<no storage: {name}>", 0, t.kind, False)
    has_data = ckpt.layout.data.has(s.key)
    if stats is None:
        return TensorInfo(name, t.shape, t.dtype, s.device, t.nbytes, s.key, s.nbytes, t.kind, has_data)
    return TensorInfo(name, t.shape, t.dtype, s.device, t.nbytes, s.key, s.nbytes, t.kind, has_data,
                      stats.nonfinite, stats.minimum, stats.maximum, stats.mean, stats.std)


def _with_arch(facts: CheckpointFacts, arch: str | None) -> CheckpointFacts:
    if facts.weights is None:
        return facts
    shapes = {t.name: t.shape for t in facts.weights}
    return replace(facts, architecture=identify(shapes, arch))


# --- where the weights are ----------------------------------------------------------------------

def weights_of(ckpt: Checkpoint, facts: CheckpointFacts) -> list[tuple[str, Tensor]]:
    """The weight records the facts describe, from the same read (for building the model)."""
    found = find_weights(ckpt.root, facts.pickled_module)
    return [] if found is None else found[2]


def stored_value(ckpt: Checkpoint, key: str) -> Any:
    """A plain value stored beside the weights (`vocab`), or None."""
    root = ckpt.root
    value = root.get(key) if isinstance(root, dict) else None
    return value if isinstance(value, (str, int, float, list, tuple, dict)) else None


def find_weights(root: Any, pickled_module: bool) -> tuple[tuple, str, list[tuple[str, Tensor]]] | None:
    """(path, origin, [(name, tensor)]): a pickled model's module tree, else the mapping with the most tensors."""
    if pickled_module:
        tree = _module_root(root)
        if tree is not None:
            return (), "module", list(module_state_dict(tree))
    path = _find_state_dict(root)
    if path is None:
        return None
    container = root
    for key in path:
        container = container[key]
    return path, "state_dict", [(str(k), v) for k, v in container.items() if isinstance(v, Tensor)]


def _find_state_dict(obj: Any) -> tuple | None:
    """The keys leading to the mapping holding the most tensors: the state_dict."""
    best: tuple[tuple, tuple] | None = None
    stack: list[tuple[Any, tuple]] = [(obj, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            continue
        count = sum(isinstance(v, Tensor) for v in node.values())
        if count:
            rank = (count, _key_preference(str(path[-1]) if path else ""), -len(path))
            if best is None or rank > best[0]:
                best = (rank, path)
        if len(path) < 3:
            stack += [(v, (*path, k)) for k, v in node.items() if isinstance(v, dict)]
    return best[1] if best else None


def _key_preference(key: str) -> int:
    if key in WEIGHT_KEYS or key == "":
        return 2
    return 0 if "ema" in key.lower() or "optim" in key.lower() else 1


def _module_root(obj: Any) -> StubObject | None:
    """The outermost pickled nn.Module: the file's object itself, or a value under one of its keys."""
    if _is_module(obj):
        return obj
    if isinstance(obj, dict):
        for value in obj.values():
            if _is_module(value):
                return value
    return None


def _is_module(obj: Any) -> bool:
    state = obj.__dict__.get("state") if isinstance(obj, StubObject) else None
    return isinstance(state, dict) and "_modules" in state


def module_state_dict(module: StubObject, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
    """What `module.state_dict()` would return, read from the pickled tree without running it."""
    stack = [(module, prefix, 0)]
    seen: set[int] = set()
    while stack:
        node, path, depth = stack.pop()
        if id(node) in seen or depth > 64:
            continue
        seen.add(id(node))
        state = node.__dict__.get("state")
        if not isinstance(state, dict):
            continue
        skip = state.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            for name, value in (state.get(group) or {}).items():
                if isinstance(value, Tensor) and name not in skip:
                    yield f"{path}{name}", value
        children = [(c, f"{path}{n}.", depth + 1) for n, c in (state.get("_modules") or {}).items() if _is_module(c)]
        stack.extend(reversed(children))


def _entries(obj: Any, path: tuple, tensors: tuple[TensorInfo, ...]) -> Iterator[Entry]:
    """What sits next to the weights: top-level siblings, or non-tensors inside a flat state_dict."""
    if not isinstance(obj, dict):
        return
    for raw_key, value in obj.items():
        key = str(raw_key)
        if (path and raw_key == path[0]) or (not path and isinstance(value, Tensor)):
            continue
        inside = [t for t in tensors if t.name == key or t.name.startswith(f"{key}.")]
        storage_bytes = sum({t.storage: t.storage_nbytes for t in inside}.values())
        yield Entry(key, kind_of(value), storage_bytes + plain_bytes(value), len(inside))


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
