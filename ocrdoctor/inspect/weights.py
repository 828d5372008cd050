"""Where the weights are in what a checkpoint holds, and how many models it holds.

Teams save more than a state_dict: the weights under `model` or `state_dict` (Lightning adds a
`model.` prefix to every key), an EMA copy beside them (timm's `state_dict_ema`, `model_ema`,
`ema`), several models in one file (`{"model": {"det": ..., "reco": ...}}`, or a predictor's
`state_dict()` with `det_predictor.model.` and `reco_predictor.model.` keys), or a pickled model
whose weights sit in its module tree. Each model found becomes a `WeightSet`: where it is, the
key prefix its keys share, and its tensors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..anatomy.architectures import THRESHOLD, identify, shared_prefix
from ..read.records import Tensor
from ..read.stubs import StubObject
from .quantized import float_layout, packed

# Where the weights usually sit inside a training checkpoint, most likely first.
WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "weights", "params")
EMA = re.compile(r"(^|_)ema($|_)|^shadow|averaged", re.IGNORECASE)
TRAINING = re.compile(r"optim|sched|scaler", re.IGNORECASE)
_BUNDLE_MIN = 8  # tensors a mapping needs to count as a model of its own in a bundle
_DEPTH = 4


class WeightsKeyError(LookupError):
    """`--key` names nothing in the file; the message lists what is there."""


@dataclass(frozen=True)
class WeightSet:
    path: tuple  # keys from the file's object to the mapping (or to the pickled model)
    origin: str  # state_dict | ema | module
    prefix: str  # a key prefix every tensor of this model shares inside the mapping ("" if none)
    tensors: tuple[tuple[str, Tensor], ...]  # (key inside the mapping, record)

    @property
    def member(self) -> str:
        """The model's name inside the file: "model.reco", "det_predictor.model"."""
        parts = [format_key(self.path)] if self.path else []
        if self.prefix:
            parts.append(self.prefix.rstrip("."))
        return ".".join(p for p in parts if p)


def format_key(path: tuple) -> str:
    """('model', 'a.b', 3) -> model["a.b"][3]: dotted where it can be, brackets where it cannot."""
    out = ""
    for part in path:
        if isinstance(part, str) and re.fullmatch(r"[A-Za-z_][\w-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


_KEY_TOKEN = re.compile(r'(\.)?([^.\[\]"]+)|\[("(?:[^"\\]|\\.)*"|-?\d+)\]')


def parse_key(text: str) -> tuple:
    """`model.reco`, `model["a.b"]`, `layers[3]` -> a tuple of keys (the `--key` syntax)."""
    parts: list[Any] = []
    pos = 0
    while pos < len(text):
        match = _KEY_TOKEN.match(text, pos)
        if match is None or (match.group(1) and not parts) or (match.group(2) and parts and not match.group(1)):
            raise WeightsKeyError(f"--key {text!r} is not a key path (like model.reco, or model[\"a.b\"])")
        _dot, plain, bracket = match.groups()
        parts.append(plain if plain is not None else json.loads(bracket))
        pos = match.end()
    if not parts:
        raise WeightsKeyError("--key is empty")
    return tuple(parts)


def find_models(root: Any, pickled_module: bool, key: tuple | None = None) -> list[WeightSet]:
    """Every model in the file's object: the one `key` names, else the module tree, else the weight
    mappings (several when the file bundles models), each split by key prefix where its keys hold
    several architectures."""
    if key is not None:
        return [_at_key(root, key)]
    if pickled_module:
        found = _module_root(root)
        if found is not None:
            path, tree = found
            return [WeightSet(path, "module", "", tuple(module_state_dict(tree)))]
    mappings = list(_mappings(root))
    plain = [(p, n) for p, n in mappings if not any(EMA.search(str(k)) or TRAINING.search(str(k)) for k in p)]
    ema = [(p, n) for p, n in mappings if any(EMA.search(str(k)) for k in p)]
    chosen, origin = (plain, "state_dict") if plain else (ema, "ema")
    if not chosen:
        return []
    largest = max(n for _, n in chosen)
    bundle = [p for p, n in chosen if n >= _BUNDLE_MIN and n >= 0.05 * largest]
    if len(bundle) < 2:
        bundle = [max(chosen, key=lambda pn: (pn[1], _key_preference(pn[0]), -len(pn[0])))[0]]
    sets = []
    for path in sorted(bundle, key=lambda p: [str(k) for k in p]):
        sets += split_by_prefix(path, origin, _tensors(_get(root, path)))
    return sets


def ema_paths(root: Any) -> list[tuple]:
    """Mappings of EMA weights in the file (a second set of weights, not training state)."""
    return [p for p, _ in _mappings(root) if any(EMA.search(str(k)) for k in p)]


def _at_key(root: Any, key: tuple) -> WeightSet:
    try:
        value = _get(root, key)
    except (KeyError, IndexError, TypeError):
        raise WeightsKeyError(f"--key {format_key(key)} is not in the file (it holds: {_listing(root)})") from None
    if _is_module(value):
        return WeightSet(key, "module", "", tuple(module_state_dict(value)))
    tensors = _tensors(value) if isinstance(value, dict) else ()
    if not tensors:
        raise WeightsKeyError(f"--key {format_key(key)} holds no tensors (a {type(value).__name__})")
    origin = "ema" if any(EMA.search(str(k)) for k in key) else "state_dict"
    return WeightSet(key, origin, "", tensors)


def _listing(root: Any) -> str:
    keys = [format_key((k,)) for k in root] if isinstance(root, dict) else [type(root).__name__]
    return ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")


def split_by_prefix(path: tuple, origin: str, tensors: tuple[tuple[str, Tensor], ...]) -> list[WeightSet]:
    """One mapping holding several architectures under different key prefixes (a predictor's
    state_dict: `det_predictor.model.`, `reco_predictor.model.`) becomes one set per prefix."""
    whole = WeightSet(path, origin, "", tensors)
    if len(tensors) < 2 * _BUNDLE_MIN or _identifies(tensors):
        return [whole]
    groups: dict[str, list[tuple[str, Tensor]]] = {}
    for name, t in tensors:
        head = name.split(".", 1)[0]
        groups.setdefault(head, []).append((name, t))
    if len(groups) < 2 or any(len(g) < _BUNDLE_MIN for g in groups.values()):
        return [whole]
    sets = []
    for group in groups.values():
        prefix = shared_prefix([n for n, _ in group])
        if not _identifies(tuple((n[len(prefix):], t) for n, t in group)):
            return [whole]
        sets.append(WeightSet(path, origin, prefix, tuple(group)))
    return sets


def _identifies(tensors) -> bool:
    match = identify({n: t.shape for n, t in tensors})
    return match is not None and match.score >= THRESHOLD


def _mappings(root: Any) -> Iterator[tuple[tuple, int]]:
    """(path, tensors) of every dict directly holding tensors, down to a few levels."""
    stack: list[tuple[Any, tuple]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        count = sum(1 for v in node.values() if isinstance(v, Tensor))
        if count:
            yield path, count
        if len(path) < _DEPTH:
            stack += [(v, (*path, k)) for k, v in node.items() if isinstance(v, dict)]


def _tensors(mapping: dict) -> tuple[tuple[str, Tensor], ...]:
    """The state_dict's tensors; a dynamic-quantized one's packed parameters under their float keys."""
    if packed(mapping):
        return float_layout(mapping)
    return tuple((str(k), v) for k, v in mapping.items() if isinstance(v, Tensor))


def _get(root: Any, path: tuple) -> Any:
    node = root
    for key in path:
        node = node[key]
    return node


def _key_preference(path: tuple) -> int:
    key = str(path[-1]) if path else ""
    return 2 if key in WEIGHT_KEYS or key == "" else 1


def _module_root(obj: Any) -> tuple[tuple, StubObject] | None:
    """The outermost pickled nn.Module: the file's object itself, or a value under one of its keys."""
    if _is_module(obj):
        return (), obj
    if isinstance(obj, dict):
        for key, value in obj.items():
            if _is_module(value):
                return (key,), value
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
