"""Facts examples: live modules, machines and ONNX sessions, built by hand or from real objects.

A GPU machine's situation is tested on a CPU machine by handing a rule the facts that machine
would produce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...specimens.models import doctr_model
from .files import Example


@dataclass(frozen=True)
class FactsExample:
    """Facts built by hand: how a GPU machine's situation is tested on a CPU machine."""

    make: Callable[[], Any]
    label: str
    when: Callable[[], bool] | None = None  # asked when the example runs: False where the installed docTR lacks it

    def __repr__(self) -> str:
        return self.label

    def applies(self) -> bool:
        return self.when is None or self.when()


def _healthy_gpu_box() -> Any:
    from ...inspect.environment import GPU, EnvironmentFacts

    return EnvironmentFacts(
        python="3.11.7", torch_version="2.15.0", torch_cuda="13.0", cuda_available=True, cuda_devices=1,
        driver_version="580.65", driver_cuda="13.0",
        gpus=(GPU(0, "NVIDIA H100 80GB HBM3", (9, 0), 80 << 30, 78 << 30, 0),),
        cpus_logical=16, cpus_physical=16, cpus_affinity=16, torch_threads=16,
        memory_total=128 << 30, memory_available=100 << 30,
        torchvision_version="0.29.2",
        onnxruntime_packages=("onnxruntime-gpu",),
        onnxruntime_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        shm_bytes=32 << 30, doctr_workers=16, doctr_cache="/root/.cache/doctr",
    )


def _healthy_cpu_box() -> Any:
    from ...inspect.environment import EnvironmentFacts

    return EnvironmentFacts(
        python="3.11.7", torch_version="2.15.0+cpu", torch_cuda=None, nvml_error="NVMLError_LibraryNotFound",
        cpus_logical=8, cpus_physical=4, cpus_affinity=8, torch_threads=4,
        memory_total=32 << 30, memory_available=20 << 30, torchvision_version="0.29.2",
        onnxruntime_packages=("onnxruntime",), onnxruntime_providers=("CPUExecutionProvider",),
        shm_bytes=16 << 30, doctr_workers=8, doctr_cache="/home/app/.cache/doctr",
    )


def gpu_box(label: str, **changes) -> FactsExample:
    """A healthy GPU machine's facts, with `changes`."""
    from dataclasses import replace

    return FactsExample(lambda: replace(_healthy_gpu_box(), **changes), label)


def cpu_box(label: str, **changes) -> FactsExample:
    from dataclasses import replace

    return FactsExample(lambda: replace(_healthy_cpu_box(), **changes), label)


def tiny_net(train: bool = False, dtype: str = "float32") -> Any:
    """A small conv net with BatchNorm and Dropout, in eval mode unless asked."""
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.Dropout(0.1), torch.nn.Conv2d(8, 4, 1))
    return net.to(getattr(torch, dtype)).train(train)


def torch_linear() -> Any:
    import torch

    return torch.nn.Linear(3, 2)


def bfloat16() -> Any:
    import torch

    return torch.bfloat16


def half_cast_net() -> Any:
    net = tiny_net()
    net[0].half()
    return net


def split_across_devices() -> Any:
    """Half of the net on the `meta` device: a mixed-device model on any machine."""
    net = tiny_net()
    net[4].to("meta")
    return net


def model(label: str, build: Callable[[], Any], when: Callable[[], bool] | None = None, **changes) -> FactsExample:
    """The facts of a real module, with `changes` (e.g. cuda_available=True for a GPU host)."""
    from dataclasses import replace

    from ...inspect.model import inspect_model

    return FactsExample(lambda: replace(inspect_model(build()), **changes), label, when)


def on_gpu(label: str, build: Callable[[], Any], capability: tuple[int, int] = (8, 0), **changes) -> FactsExample:
    """The facts of a module as they read once it sits on cuda:0 of a GPU with `capability`."""
    from dataclasses import replace

    from ...inspect.model import inspect_model

    def make():
        facts = inspect_model(build())
        moved = tuple(replace(c, devices={"cuda:0": sum(c.devices.values())}) for c in facts.components)
        return replace(facts, components=moved, cuda_available=True, gpu_capability=capability, **changes)

    return FactsExample(make, label)


def factory_predictor(arch: str) -> Any:
    """What docTR's own factory builds offline: `detection_predictor(arch, pretrained=False)` (FAST reparameterized)
    or `recognition_predictor(...)`."""
    from doctr import models

    task = "detection" if arch.startswith(("db_", "fast_", "linknet_")) else "recognition"
    factory = models.detection_predictor if task == "detection" else models.recognition_predictor
    return factory(arch, pretrained=False, pretrained_backbone=False)


def reparameterized_fast_model(arch: str) -> Any:
    from doctr.models.detection.fast import reparameterize

    return reparameterize(doctr_model(arch)).eval()


def predictor_with_preprocessing(cfg: dict | None = None, **overrides) -> Any:
    """A docTR DetectionPredictor whose pre-processor follows the model's cfg and docTR's detection_predictor
    (aspect ratio kept, padded symmetrically), but for `overrides`; `cfg` is added to the model's cfg."""
    from doctr.models.detection.predictor import DetectionPredictor
    from doctr.models.preprocessor import PreProcessor

    model = doctr_model("db_mobilenet_v3_large").eval()
    model.cfg = {**model.cfg, **(cfg or {})}
    settings = {"mean": model.cfg["mean"], "std": model.cfg["std"], "preserve_aspect_ratio": True,
                "symmetric_pad": True, **overrides}
    return DetectionPredictor(PreProcessor(model.cfg["input_shape"][-2:], 1, **settings), model)


def detector_with_postprocessing(cfg: dict | None = None, **values) -> Any:
    """A docTR detection predictor (trained-looking DBNet) whose post-processor has `values` set; `cfg` is added
    to the model's cfg (a stored training config)."""
    from doctr.models import detection_predictor

    model = doctr_model("db_mobilenet_v3_large").eval()
    model.cfg = {**model.cfg, **(cfg or {})}
    predictor = detection_predictor(model, pretrained=False)
    for name, value in values.items():
        setattr(predictor.model.postprocessor, name, value)
    return predictor


def exported(label: str, dynamic_batch: bool = True) -> Example:
    """A small conv net exported to ONNX by torch, with or without a dynamic batch axis."""

    def write(path: Path) -> None:
        import torch

        axes = {"input": {0: "batch_size"}, "logits": {0: "batch_size"}} if dynamic_batch else None
        torch.onnx.export(tiny_net(), torch.rand(1, 3, 32, 32), str(path), input_names=["input"],
                          output_names=["logits"], dynamic_axes=axes, dynamo=False)

    return Example(write, label, suffix=".onnx")


def onnx_with_dangling_input(label: str) -> Example:
    """Well-formed protobuf, invalid graph: a node reads a tensor nothing produces."""

    def write(path: Path) -> None:
        import onnx
        from onnx import TensorProto, helper

        node = helper.make_node("Relu", ["missing"], ["y"])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))

    return Example(write, label, suffix=".onnx")


def onnx_facts(label: str, **changes) -> FactsExample:
    """The facts of a valid docTR detection export, with `changes` (a GPU host's providers, a parity result)."""
    from ...inspect.onnx import OnnxFacts, Port

    def make():
        facts = {"requested_providers": ("CPUExecutionProvider",), **changes}
        return OnnxFacts(
            "det.onnx", 16 << 20, opset=17, producer="pytorch 2.14.1",
            inputs=(Port("input", "float", ("batch_size", 3, 1024, 1024)),),
            outputs=(Port("logits", "float", ("batch_size", 1, 1024, 1024)),), **facts,
        )

    return FactsExample(make, label)




def page_facts(label: str, base: str, candidate: str, *, shift: float = 0.0, golden: str | None = None,
               only_in: str | None = None, **tolerance) -> FactsExample:
    """One page read twice: `base` and `candidate` are its words (space-separated), laid out on a line;
    the candidate's boxes move right by `shift` (a share of the page's width)."""
    from ...inspect.comparison import PageFacts, Tolerance, compare_pages
    from ...inspect.reading import PageReading, Word

    def reading(text: str, dx: float) -> PageReading:
        words = tuple(Word(w, (0.05 + 0.1 * i + dx, 0.1, 0.13 + 0.1 * i + dx, 0.14), 0.9)
                      for i, w in enumerate(text.split()))
        return PageReading("page-1.png", "0" * 64, words, 0.5)

    def make():
        compared = None if only_in else compare_pages(reading(base, 0.0), reading(candidate, shift))
        return PageFacts("page-1.png", Tolerance(**tolerance), compared, golden=golden, only_in=only_in)

    return FactsExample(make, label)


def onnxtr_facts(label: str, **changes) -> FactsExample:
    """A healthy OnnxTR detection session on a 2-CPU machine (threads fitted, arena shrunk, docTR's
    pre-processing), with `changes` to the session or to the machine (gpus, cpus_usable, ...)."""
    from dataclasses import fields

    from ...inspect.onnxtr import CPU, OnnxtrFacts, Session

    def make():
        top = {f.name for f in fields(OnnxtrFacts)}
        cfg = {"input_shape": (1024, 1024), "mean": (0.798, 0.785, 0.772), "std": (0.264, 0.2749, 0.287)}
        base = dict(
            role="detection", path="predictor.det_predictor.model", cls="DBNet", arch="db_mobilenet_v3_large",
            model_path="det.onnx", requested=(CPU,), in_use=(CPU,), intra_threads=2, inter_threads=1,
            parallel=False, graph_level="ORT_ENABLE_ALL", cpu_arena=True, shrinkage="cpu:0", run_options_error=None,
            input_dims=("batch_size", 3, 1024, 1024), output_dims=("batch_size", 1, 1024, 1024), precision="float32",
            cfg_input=cfg["input_shape"], cfg_mean=cfg["mean"], cfg_std=cfg["std"], pre_size=cfg["input_shape"],
            pre_mean=cfg["mean"], pre_std=cfg["std"], doctr=dict(cfg), default=dict(cfg), has_8_bit=True)
        session = Session(**{**base, **{k: v for k, v in changes.items() if k not in top}})
        machine = {"cpus_usable": 2, "cpus_physical": 2, **{k: v for k, v in changes.items() if k in top}}
        return OnnxtrFacts("OCRPredictor", (session,), "0.9.0", **machine)

    return FactsExample(make, label)
