"""Small factories that write a checkpoint or an ONNX file showing (or free of) one problem.

Each rule lists its good and bad examples in its decorator; one parametrized test writes
every example and checks the rule fires on the bad ones only. The demo reuses them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...specimens.files import storages_tagged
from ...specimens.models import doctr_model, make_trained


@dataclass(frozen=True)
class Example:
    """Writes one example file; `arch` is passed as --arch when checking it."""

    write: Callable[[Path], None]
    label: str
    arch: str | None = None
    suffix: str = ".pt"

    def __repr__(self) -> str:  # readable pytest ids
        return self.label


def saved(make: Callable[[], Any], label: str, *, arch: str | None = None, **save_kwargs) -> Example:
    def write(path: Path) -> None:
        import torch

        torch.save(make(), path, **save_kwargs)

    return Example(write, label, arch)


def raw(data: bytes, label: str, suffix: str = ".pt") -> Example:
    return Example(lambda path: path.write_bytes(data), label, suffix=suffix)


def tiny_state_dict(dtype: str = "float32") -> dict:
    """A conv + BatchNorm state_dict that looks trained (every value moved off its initialization)."""
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.Conv2d(8, 4,
                                                                                                                  1))
    make_trained(net, seed=0)
    return {k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in net.state_dict().items()}


def doctr_state_dict(arch: str, **kwargs) -> dict:
    return doctr_model(arch, **kwargs).state_dict()


def ocr_predictor(det: str = "db_mobilenet_v3_large", reco: str = "crnn_mobilenet_v3_small", *,
                  trained: bool = True, **options) -> Any:
    """A docTR OCR predictor with its page options (`straighten_pages`, ...), built offline."""
    from ...specimens.models import offline_ocr_predictor

    return offline_ocr_predictor(doctr_model(det, trained=trained).eval(), doctr_model(reco, trained=trained).eval(),
                                 **options)


def optimizer_state(state_dict: dict) -> dict:
    """A real AdamW state (two moments per parameter) for the floating tensors of a state_dict."""
    import torch

    params = [torch.nn.Parameter(v.clone().float()) for v in state_dict.values() if v.is_floating_point()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    for p in params:
        p.grad = torch.ones_like(p) * 1e-3
    opt.step()
    return opt.state_dict()


def saved_from(location: str, make: Callable[[], Any], label: str) -> Example:
    def write(path: Path) -> None:
        import torch

        obj = make()
        with storages_tagged(location):
            torch.save(obj, path)

    return Example(write, label)


class SystemCall:
    """Pickles to a call of os.system: the shape of a malicious checkpoint (never loaded)."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def truncated(make: Callable[[], Any], label: str, keep: float = 0.5) -> Example:
    def write(path: Path) -> None:
        import torch

        torch.save(make(), path)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return Example(write, label)


LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 16959335\n")


def lightning_checkpoint() -> dict:
    """What Lightning's ModelCheckpoint saves: the weights under state_dict, each key prefixed `model.`."""
    sd = tiny_state_dict()
    return {"epoch": 4, "global_step": 800, "pytorch-lightning_version": "2.4.0",
            "state_dict": {f"model.{k}": v for k, v in sd.items()},
            "optimizer_states": [optimizer_state(sd)], "lr_schedulers": [{"last_epoch": 4}],
            "hyper_parameters": {"lr": 1e-3}, "loops": {"fit_loop": {"epoch_progress": {"total": 5}}}}


def lightning_doctr_checkpoint() -> dict:
    """A Lightning checkpoint of a docTR recognizer (the LightningModule keeps it as `self.model`)."""
    sd = doctr_state_dict("crnn_mobilenet_v3_small")
    return {"epoch": 2, "state_dict": {f"model.{k}": v for k, v in sd.items()}, "hyper_parameters": {"lr": 1e-3}}


def ddp_training_checkpoint() -> dict:
    """A DistributedDataParallel training script's save: `module.` keys under `model`, and the optimizer."""
    sd = tiny_state_dict()
    return {"epoch": 12, "model": {f"module.{k}": v for k, v in sd.items()}, "optimizer": optimizer_state(sd)}


def list_of_tensors() -> list:
    return [v for v in tiny_state_dict().values()]


def meta_state_dict() -> dict:
    """Shapes and dtypes only: a model built on the meta device (init_empty_weights)."""
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8))
    return {k: v.to("meta") for k, v in net.state_dict().items()}


def zip_missing_storage(path: Path) -> None:
    """A torch.save zip with one storage member deleted."""
    import io
    import zipfile

    import torch

    buf = io.BytesIO()
    torch.save(tiny_state_dict(), buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            if not info.filename.endswith("/data/1"):
                out.writestr(info, src.read(info))


def quantized_state_dict() -> dict:
    """A statically quantized conv net's state_dict: qint8 weights, quint8 activation scales."""
    import torch

    with warnings.catch_warnings():  # torch deprecates torch.ao.quantization for torchao; teams still ship it
        warnings.simplefilter("ignore")
        net = torch.nn.Sequential(torch.ao.quantization.QuantStub(), torch.nn.Conv2d(3, 4, 3),
                                  torch.ao.quantization.DeQuantStub()).eval()
        net.qconfig = torch.ao.quantization.get_default_qconfig("fbgemm")
        prepared = torch.ao.quantization.prepare(net)
        prepared(torch.rand(2, 3, 8, 8))
        return torch.ao.quantization.convert(prepared).state_dict()


def dynamic_quantized(arch: str = "crnn_mobilenet_v3_small", layers: tuple[str, ...] = ("LSTM", "Linear")) -> Any:
    """A trained-looking docTR recognizer after torch.ao.quantization.quantize_dynamic (packed LSTM / Linear)."""
    import torch

    with warnings.catch_warnings():  # torch deprecates torch.ao.quantization for torchao; teams still ship it
        warnings.simplefilter("ignore")
        kinds = {getattr(torch.nn, name) for name in layers}
        return torch.ao.quantization.quantize_dynamic(doctr_model(arch).eval(), kinds, dtype=torch.qint8)


def db_with_untrained_thresh_head() -> dict:
    """A trained DBNet whose thresh_head still has fresh BatchNorm statistics: docTR never runs it at inference."""
    import torch

    model = doctr_model("db_mobilenet_v3_large")
    for m in model.thresh_head.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return model.state_dict()


def vocab_of_size(size: int) -> str:
    """Any vocabulary of `size` distinct characters (a custom one)."""
    return "".join(chr(0x3041 + i) for i in range(size))


def legacy_french() -> str:
    """docTR's `legacy_french` vocab, removed in 1.0 (from the committed release table)."""
    from ...anatomy.architectures import all_releases, release_vocabs

    return next(release_vocabs(r)["legacy_french"] for r in all_releases() if "legacy_french" in release_vocabs(r))


def drifted_vocab(arch: str = "crnn_vgg16_bn") -> str:
    """A vocab only another docTR release has, as OD119 judges it: another release's default for `arch`
    that the installed docTR lacks (under docTR 1.x, 0.x's legacy_french: 124 outputs, mindee/doctr#1969),
    else another release's vocab of a length the installed docTR has none of (under 0.8, a 0.11 one)."""
    from ...anatomy.architectures import all_releases, default_vocab, reference_release, release_vocabs

    installed = reference_release()[0]
    present = {default_vocab(arch, installed), *release_vocabs(installed).values()}
    others = [r for r in reversed(all_releases()) if r != installed]
    defaults = [v for r in others if (v := default_vocab(arch, r)) and v not in present]
    sizes = {len(v) for v in present if v}
    return next(iter(defaults), None) or next(
        v for r in others for _, v in sorted(release_vocabs(r).items()) if len(v) not in sizes)


def drifted_crnn() -> dict:
    """A crnn_vgg16_bn trained with another release's default vocab than the installed one (see drifted_vocab)."""
    return doctr_state_dict("crnn_vgg16_bn", vocab=drifted_vocab())


def release_vocab(arch: str) -> str:
    """A vocab the installed docTR ships that is not `arch`'s default, and of another length."""
    from ...anatomy.architectures import default_vocab, reference_release, release_vocabs

    release = reference_release()[0]
    default = default_vocab(arch, release)
    return next(v for _, v in sorted(release_vocabs(release).items()) if len(v) != len(default))


def with_harmless_extras() -> dict:
    """Weights beside what training scripts save: numpy metrics, the argparse Namespace, a Path."""
    import argparse
    import pathlib

    import numpy as np

    return {"model": tiny_state_dict(), "args": argparse.Namespace(lr=1e-3, arch="tiny"),
            "best_loss": np.float64(0.25), "history": np.arange(3, dtype=np.float32),
            "out_dir": pathlib.Path("runs/tiny")}


def torchscript_file(path: Path) -> None:
    import torch

    with warnings.catch_warnings():  # torch.jit.script is deprecated, and still what teams ship
        warnings.simplefilter("ignore")
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))


def exported_program_file(path: Path) -> None:
    import torch

    torch.export.save(torch.export.export(torch.nn.Linear(2, 2), (torch.rand(1, 2),)), str(path))


def whole_module() -> Any:
    """What torch.save(model) pickles: the module object, not its state_dict."""
    import torch

    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def fresh_batchnorm_state_dict() -> dict:
    """Trained weights whose BatchNorm statistics were never updated (trained with BatchNorm frozen)."""
    net = make_trained(whole_module())
    net[1].reset_running_stats()
    return net.state_dict()


def untrained_state_dict() -> dict:
    """A freshly built conv + BatchNorm net, saved before any training."""
    return whole_module().state_dict()


def briefly_trained(arch: str = "crnn_mobilenet_v3_small", steps: int = 2) -> Any:
    """A docTR recognition model after `steps` real AdamW steps from its initialization: the least a
    fine-tune moves its weights, by gradients and not by a fixture's noise."""
    import torch

    torch.manual_seed(0)
    model = doctr_model(arch, trained=False).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.rand(2, 3, 32, 128), target=["ocr", "doctor"])["loss"].backward()
        opt.step()
    return model.eval()


def with_view_of_large_storage() -> dict:
    import torch

    return {**tiny_state_dict(), "extra": torch.zeros(1_000_000)[:10]}


def reparameterized_fast(arch: str) -> dict:
    from doctr.models.detection.fast import reparameterize

    return reparameterize(doctr_model(arch)).state_dict()




def nested_lists(depth: int) -> bytes:
    """A pickle of `depth` lists nested one in the next: a few bytes per level."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


def deflated_zeros(inflated: int) -> tuple[bytes, int]:
    """(raw deflate stream, CRC) of `inflated` zero bytes, compressed a megabyte at a time."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk, parts, crc = bytes(1 << 20), [], 0
    for _ in range(inflated >> 20):
        parts.append(packer.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    return b"".join(parts) + packer.flush(), crc


def deflate_bomb(path: Path, inflated: int = (1 << 30) + (1 << 20), member: bytes = b"archive/data.pkl") -> None:
    """A torch zip with a member that inflates to more than 1 GiB of zeros from about a megabyte."""
    import zlib

    body, crc = deflated_zeros(inflated)
    members = [(member, 8, body, inflated, crc), (b"archive/version", 0, b"3\n", 2, zlib.crc32(b"3\n"))]
    if member != b"archive/data.pkl":  # a valid checkpoint beside the bomb
        members.insert(0, (b"archive/data.pkl", 0, b"\x80\x02}.", 4, zlib.crc32(b"\x80\x02}.")))
    path.write_bytes(zip_bytes(members))


def zip_bytes(members: list[tuple[bytes, int, bytes, int, int]]) -> bytes:
    """A zip built by hand from (name, method, stored bytes, declared size, crc): what zipfile will not write."""
    import struct

    out, central = bytearray(), bytearray()
    for name, method, data, size, crc in members:
        offset = len(out)
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), min(size, 0xFFFFFFFF),
                           len(name), 0) + name + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data),
                               min(size, 0xFFFFFFFF), len(name), 0, 0, 0, 0, 0, offset) + name
    start = len(out)
    out += central
    n = len(members)
    if n > 0xFFFF:  # a zip64 directory record and its locator, as zip writers add them
        record = len(out)
        out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(central), start)
        out += struct.pack("<4sIQI", b"PK\x06\x07", 0, record, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, min(n, 0xFFFF), min(n, 0xFFFF), len(central), start, 0)
    return bytes(out + end)
