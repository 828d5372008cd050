"""docTR's model config stored with the weights: vocab, mean/std, input shape, architecture.

Looked for where teams put it: a `vocab` entry beside the weights; under `config`, `cfg`,
Lightning's `hyper_parameters`, an `args` Namespace; safetensors metadata (what `ocrdoctor fix
--safetensors` writes); and beside the file, in `<name>.config.json` (what `ocrdoctor fix` writes)
or a docTR-style `config.json` (what docTR's hub export writes: arch, task, vocab, mean, std,
input_shape). The first place that has a key wins, and the config says where it came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..read.stubs import StubObject

KEYS = ("arch", "vocab", "mean", "std", "input_shape")
CONTAINERS = ("config", "cfg", "model_config", "hyper_parameters", "hparams", "args", "opts", "settings", "meta",
              "metadata")
_MAX_SIDECAR = 16 << 20


@dataclass(frozen=True)
class ModelConfig:
    arch: str | None = None
    vocab: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    input_shape: tuple[int, ...] | None = None
    task: str | None = None
    source: str = ""  # where it was found, for messages: 'the file's "vocab" entry', 'det.config.json'

    def to_dict(self) -> dict[str, Any]:
        """docTR's keys, for a sidecar or safetensors metadata."""
        out = {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def stored_config(root: Any, member_path: tuple, metadata: Mapping[str, str] | None, path: Path,
                  task: str | None) -> ModelConfig | None:
    """The config that belongs to the model at `member_path` (whose task is `task`), or None."""
    for where, mapping in _places(root, member_path, metadata, path):
        if mapping.get("task") not in (None, task) and task is not None:
            continue  # a sidecar of the other model of a det + reco pair
        config = _parse(mapping, where)
        if config is not None and task == "detection" and config.vocab is not None:
            config = _without_vocab(config)  # a recognizer's vocab beside a det + reco pair
        if config is not None:
            return config
    return None


def _without_vocab(config: ModelConfig) -> ModelConfig | None:
    if config.mean is None and config.input_shape is None:
        return None
    return ModelConfig(arch=config.arch, mean=config.mean, std=config.std, input_shape=config.input_shape,
                       task=config.task, source=config.source)


def sidecar_path(output: Path) -> Path:
    """Where `ocrdoctor fix` writes the config beside its output: det.pt -> det.config.json."""
    return output.with_name(output.with_suffix("").name + ".config.json")


def sidecars(path: Path) -> tuple[Path, Path]:
    """The files a checkpoint's config is read from beside it: `<stem>.config.json`, then `config.json`."""
    return sidecar_path(path), path.with_name("config.json")


def files_read_by(paths: Iterable) -> Iterator[Path]:
    """Every local file reading these checkpoints reads: each, its config sidecars, and the shards an index
    names (what no output may replace). URLs read nothing here."""
    from ..read.remote import is_url
    from ..read.shards import IndexError_, is_index, shard_names, sibling

    for raw in paths:
        if raw is None or is_url(raw):
            continue
        path = Path(raw)
        yield path
        yield from sidecars(path)
        if is_index(path):
            try:
                yield from (sibling(path, name) for name in shard_names(path))
            except (IndexError_, OSError):
                continue


def _places(root: Any, member_path: tuple, metadata: Mapping[str, str] | None, path: Path):
    if metadata:
        yield "the safetensors metadata", {k: v if k in ("vocab", "arch", "task") else _decoded(v)
                                           for k, v in metadata.items()}
    if isinstance(root, dict):
        for depth in range(len(member_path), -1, -1):  # the model's own siblings first, then upwards
            parent = _get(root, member_path[:depth])
            if isinstance(parent, dict):
                where = f'the file\'s "{".".join(map(str, member_path[:depth]))}"' if depth else "the file"
                yield where, parent
        for key in CONTAINERS:
            value = root.get(key)
            mapping = _as_mapping(value)
            if mapping:
                yield f'the file\'s "{key}"', mapping
    for sidecar in sidecars(path):
        mapping = _read_json(sidecar)
        if mapping:
            yield sidecar.name, mapping


def _get(root: Any, path: tuple) -> Any:
    node = root
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _as_mapping(value: Any) -> dict | None:
    """A plain dict, or the state of a stub that pickled one (argparse.Namespace, AttributeDict)."""
    if isinstance(value, StubObject):
        state = value.__dict__.get("state")
        items = dict(value)
        return {**(state if isinstance(state, dict) else {}), **items} or None
    return value if isinstance(value, dict) else None


def _parse(mapping: Mapping[str, Any], where: str) -> ModelConfig | None:
    vocab = mapping.get("vocab")
    found = {
        "arch": mapping.get("arch") if isinstance(mapping.get("arch"), str) else None,
        "vocab": vocab if isinstance(vocab, str) and vocab else None,
        "mean": _numbers(mapping.get("mean"), float),
        "std": _numbers(mapping.get("std"), float),
        "input_shape": _numbers(mapping.get("input_shape"), int),
        "task": mapping.get("task") if isinstance(mapping.get("task"), str) else None,
    }
    if found["vocab"] is None and found["mean"] is None and found["input_shape"] is None:
        return None  # an `arch` alone is a training script's argument, not a model config
    what = "vocab" if found["vocab"] else "config"
    return ModelConfig(**found, source=f"{where} ({what})" if where.startswith("the file") else where)


def _numbers(value: Any, kind: type) -> tuple | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        return tuple(kind(v) for v in value)
    return None


def _decoded(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def _read_json(path: Path) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_SIDECAR:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None
