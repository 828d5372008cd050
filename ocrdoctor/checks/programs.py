"""The Python programs fixes print: complete, runnable as pasted, fitted to the installed versions.

Every program starts by defining `path`, the file as the user named it, so it runs from where
the check ran; a remote file's program first copies it with fsspec into a fresh temporary folder.

A checkpoint rule's fix loads the file the way a deployment can (weights-only; with exactly the
harmless names allowed where torch refuses them), takes the weights from where they sit, strips
the prefixes a plain model will not load, and writes `weights.pt`. tests/test_fix_programs.py runs
each printed program against every bad example of its rule and checks the finding is gone.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..anatomy.architectures import strip_wrappers
from ..anatomy.versions import parse
from ..core.units import subscript
from ..read.remote import Url, is_url

if TYPE_CHECKING:
    from ..inspect.checkpoint import CheckpointFacts

OUTPUT = "weights.pt"
SIDECAR = "weights.config.json"  # where the program keeps the model's config (vocab, arch, input size, mean/std)


@dataclass(frozen=True)
class Rewrite:
    """A finding that rewriting the file clears: what the rewrite does, when the file needs it, whether it changes
    numerics, and what `ocrdoctor fix` must be told for it (`--dtype float32`)."""

    code: str
    does: str
    applies: Callable[[CheckpointFacts], bool]
    numerics: bool = False
    dtype: str | None = None
    review: bool = False  # it rests on an inference (the vocab a head's size fits): review it before applying


def _floats(facts: CheckpointFacts) -> list:
    return [t for t in facts.weights or () if t.floating]


def mixed_floats(facts: CheckpointFacts) -> bool:
    """Floating weights in more than one dtype: a half-done cast (OD107)."""
    return len({t.dtype for t in _floats(facts)}) > 1


def has_float64(facts: CheckpointFacts) -> bool:
    return any(t.dtype == "float64" for t in _floats(facts))


def fast_training_form(facts: CheckpointFacts) -> str | None:
    """The FAST architecture whose weights are in their multi-branch training form (OD114), else None."""
    match = facts.architecture
    if match is not None and match.identified and match.arch.startswith("fast") and match.form == "training":
        return match.arch
    return None


def wasted_bytes(facts: CheckpointFacts) -> int:
    """Bytes of storages no tensor of the file uses: views saved with their whole storage (OD115)."""
    storages: dict[str, int] = {}
    used: dict[str, int] = {}
    for t in facts.tensors:
        storages[t.storage] = t.storage_nbytes
        used[t.storage] = min(t.storage_nbytes, used.get(t.storage, 0) + t.nbytes)
    return sum(storages.values()) - sum(used.values())


def inferred_vocab(facts: CheckpointFacts) -> str | None:
    """The name of the one installed docTR vocab a recognition head with no stored vocab fits (OD117), else None."""
    from ..anatomy.heads import head_verdict

    if facts.config is not None and facts.config.vocab is not None or not known(facts):
        return None
    verdict = head_verdict(facts.architecture, None, None)
    return verdict.vocab_name if verdict is not None and verdict.code == "OD117" else None


def bloated(facts: CheckpointFacts) -> bool:
    wasted = wasted_bytes(facts)
    return wasted >= 1 << 20 and wasted >= 0.2 * facts.size


# The one table: the findings a rewrite of the file clears. Every program a checkpoint rule prints for one of them
# is `file_program(facts)`, which makes every rewrite the file needs at once, and its command is `file_command`
# (`ocrdoctor fix` makes the same rewrites; --dtype float32 where a cast is one of them).
REWRITES = (
    Rewrite("OD103", "keeps the weights alone", lambda f: True),
    Rewrite("OD104", "takes the weights from where they sit", lambda f: bool(f.weights_path)),
    Rewrite("OD105", "strips the wrapper prefix", lambda f: bool(_prefix(f))),
    Rewrite("OD106", "maps every tensor to the CPU", lambda f: True),
    Rewrite("OD107", "casts every floating tensor to float32", mixed_floats, dtype="float32"),
    Rewrite("OD108", "casts every floating tensor to float32", has_float64, numerics=True, dtype="float32"),
    Rewrite("OD111", "writes torch's zip format", lambda f: True),
    Rewrite("OD114", "reparameterizes FAST", lambda f: fast_training_form(f) is not None, numerics=True),
    Rewrite("OD115", "writes compact copies of views", bloated),
    Rewrite("OD117", "keeps the vocab the head fits beside the weights", lambda f: inferred_vocab(f) is not None,
            review=True),
)
REWRITTEN = frozenset(r.code for r in REWRITES)


def needed(facts: CheckpointFacts) -> list[Rewrite]:
    """The rewrites this file needs (those that change nothing are always made: they cost nothing)."""
    return [r for r in REWRITES if r.applies(facts)]


def file_applicability(facts: CheckpointFacts):
    """SAFE, or CHANGES_NUMERICS where one of the rewrites the file needs changes numerics; REVIEW for a model ocrdoctor
    does not know (OD112): renaming its keys or moving its storages may not fit its own loader."""
    from ..core.findings import Applicability

    if not known(facts) or any(r.review for r in needed(facts)):
        return Applicability.REVIEW
    numerics = any(r.numerics for r in needed(facts))
    return Applicability.CHANGES_NUMERICS if numerics else Applicability.SAFE


def known(facts: CheckpointFacts) -> bool:
    """The weights are a docTR architecture's (identified, or checked against one with --arch)."""
    return facts.architecture is not None and facts.architecture.identified


def own_loader_note(facts: CheckpointFacts) -> str:
    """What a finding on a model of no known architecture adds: the fact, and that its loader may differ."""
    if known(facts):
        return ""
    return ("; the keys match no docTR architecture (OD112): a plain load_state_dict expects bare keys on the CPU, "
            "but this model's own loader may expect the file as it was saved")


def file_program(facts: CheckpointFacts) -> str | None:
    """The one program for the file: every rewrite it needs, at once, writing `weights.pt` (and the model's config
    beside it in `weights.config.json`, as `ocrdoctor fix` keeps it). None when no program can load the file
    weights-only (then the command does it)."""
    done = {r.code for r in needed(facts)}
    program = weights_program(facts, cast="float32" if done & {"OD107", "OD108"} else None,
                              reparameterize=fast_training_form(facts), compact="OD115" in done)
    vocab = inferred_vocab(facts)
    if program is not None and vocab is not None:
        return _with_inferred_vocab(program, facts.architecture.arch, vocab)
    config = facts.kept_config()
    if program is None or config is None or not config.to_dict():
        return program
    kept = json.dumps(config.to_dict(), ensure_ascii=False)
    return "\n".join([program, "import json", "", f"with open({SIDECAR!r}, \"w\", encoding=\"utf-8\") as f:",
                      f"    json.dump({kept}, f, indent=2)  # the model's config, as ocrdoctor fix keeps it"])


def _with_inferred_vocab(program: str, arch: str, name: str) -> str:
    """The program, the weights loaded strictly into `arch` built with VOCABS[name] first, then the config docTR's
    loaders read (arch, vocab, input_shape) written beside them: no vocab is left to guess at deployment."""
    *body, save = program.splitlines()
    return "\n".join([
        *body,
        "from doctr.datasets import VOCABS",
        f"from doctr.models import {arch}",
        "",
        f'VOCAB = VOCABS["{name}"]  # the installed docTR\'s one vocab of the head\'s size: is it the one it was '
        "trained with?",
        f"model = {arch}(pretrained=False, pretrained_backbone=False, vocab=VOCAB)",
        "model.load_state_dict(sd, strict=True)  # the head fits",
        save,
        "import json",
        "",
        f"with open({SIDECAR!r}, \"w\", encoding=\"utf-8\") as f:",
        f'    json.dump({{"arch": "{arch}", "vocab": VOCAB, "input_shape": list(model.cfg["input_shape"])}}, f, '
        "indent=2)",
    ])


def file_command(facts: CheckpointFacts) -> str | None:
    """The one `ocrdoctor fix` command for the file, told what the rewrites need (`--dtype float32`)."""
    dtype = next((r.dtype for r in needed(facts) if r.dtype), None)
    return fix_command(facts, dtype=dtype)


def safe_globals_load(source: str, names: Sequence[str], versions: Mapping[str, str]) -> str | None:
    """torch.load(path) with exactly `names` allowed; None where the installed torch cannot allow names (< 2.4)."""
    lines = _load(names, versions)
    return None if lines is None else "\n".join([path_line(source), *lines])


def path_line(source: str) -> str:
    """`path = '...'`: a Python literal for any file name (quotes, backslashes, non-ASCII). A remote file
    (its URL as reports show it) is copied first with fsspec into a fresh temporary folder: torch reads
    files, and no file of the user's is replaced."""
    if not is_url(source):
        return f"path = {str(source)!r}"
    name = Url(str(source)).name or "checkpoint"
    return "\n".join(["import os", "import shutil", "import tempfile", "", "import fsspec", "",
                      f"path = os.path.join(tempfile.mkdtemp(), {name!r})  # a fresh folder: no file here is replaced",
                      f"with fsspec.open({str(source)!r}, \"rb\") as remote, open(path, \"wb\") as local:",
                      "    shutil.copyfileobj(remote, local)  # a local copy: torch.load reads files"])


def _load(names: Sequence[str], versions: Mapping[str, str]) -> list[str] | None:
    torch = parse(versions.get("torch"))
    if not names:
        return ["import torch", "", 'ckpt = torch.load(path, map_location="cpu", weights_only=True)']
    if not torch or torch < (2, 4):
        return None
    numpy2 = parse(versions.get("numpy")) >= (2,)
    imports, items = set(), []
    if torch < (2, 5):  # torch 2.4 refuses the bytes of a protocol-2 pickle too; 2.5 allows them by default
        names = ["_codecs.encode", *names]
    for name in names:
        module, attr = name.rsplit(".", 1)
        here = _numpy_module(module, numpy2)
        imports.add(here)
        expr = f"{here}.{attr}"
        items.append(expr if here == module or torch < (2, 6) else f'({expr}, "{name}")')
    lines = [f"import {m}" for m in sorted(imports) if m != "torch"] + ["import torch", ""]
    if torch < (2, 5):  # no safe_globals context yet: allow the names for this process
        lines += ["torch.serialization.add_safe_globals(["] + [f"    {item}," for item in items]
        return lines + ["])", 'ckpt = torch.load(path, map_location="cpu", weights_only=True)']
    lines += ["with torch.serialization.safe_globals(["] + [f"    {item}," for item in items]
    lines += ["]):", '    ckpt = torch.load(path, map_location="cpu", weights_only=True)']
    return lines


def _numpy_module(module: str, numpy2: bool) -> str:
    """numpy moved numpy.core to numpy._core in 2.0; pickles keep the name they were saved with."""
    if numpy2 and (module == "numpy.core" or module.startswith("numpy.core.")):
        return "numpy._core" + module[len("numpy.core"):]
    if not numpy2 and (module == "numpy._core" or module.startswith("numpy._core.")):
        return "numpy.core" + module[len("numpy._core"):]
    return module


def weights_program(facts: CheckpointFacts, *, cast: str | None = None, reparameterize: str | None = None,
                    whole_file: bool = False, compact: bool = False) -> str | None:
    """Load the file, keep the bare weights (or the whole file, mapped to the CPU), optionally cast
    or reparameterize FAST, and save `weights.pt`. None when the file cannot be loaded weights-only."""
    if facts.pickled_module or facts.weights is None:
        return None
    lines = _load(facts.outside_weights_only, facts.versions)
    if lines is None:
        return None
    if whole_file:
        return "\n".join([path_line(facts.path), *lines, f'torch.save(ckpt, "{OUTPUT}")'])
    path = facts.weights_path or ()
    lines.append(f"sd = ckpt{subscript(path)}" if path else "sd = ckpt")
    lines.append("sd = {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}")
    prefix = _prefix(facts)
    if prefix:
        lines.insert(0, "from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present")
        lines += [f'consume_prefix_in_state_dict_if_present(sd, "{part}.")' for part in prefix.rstrip(".").split(".")]
    if cast == "float32":
        lines.append("sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}")
    if reparameterize:
        lines = _reparameterized(lines, reparameterize)
    if compact:  # views saved alone, not with the whole storage they look into
        lines.append("sd = {k: v.clone() for k, v in sd.items()}")
    lines.append(f'torch.save(sd, "{OUTPUT}")')
    return "\n".join([path_line(facts.path), *lines])


def _reparameterized(lines: list[str], arch: str) -> list[str]:
    head = [f"from doctr.models import {arch}", "from doctr.models.detection.fast import reparameterize"]
    body = [f"model = {arch}(pretrained=False, pretrained_backbone=False)",
            "model.load_state_dict(sd, strict=True)",
            "sd = reparameterize(model).state_dict()"]
    return head + lines + body


def _prefix(facts: CheckpointFacts) -> str:
    match = facts.architecture
    if match is not None and match.identified:
        return match.prefix
    return strip_wrappers([t.name for t in facts.weights or ()])


def fix_command(facts: CheckpointFacts, *, dtype: str | None = None) -> str | None:
    """`ocrdoctor fix PATH -o NAME-clean.pt`, where ocrdoctor fix repairs the finding (a local file: a remote
    one's program makes its local copy first)."""
    if facts.unsafe or facts.weights is None or facts.problem or is_url(facts.path):
        return None
    source = Path(facts.path)
    stem = source.name.split(".")[0] or "weights"
    if facts.member:
        out = f"{stem}-clean"  # a folder: every model of the bundle, each in its own file
    else:
        out = f"{stem}-clean{'.safetensors' if facts.format == 'safetensors' else '.pt'}"
    parts = ["ocrdoctor", "fix", str(source), "-o", str(source.with_name(out))]
    if dtype:
        parts += ["--dtype", dtype]
    return " ".join(shlex.quote(p) for p in parts)
