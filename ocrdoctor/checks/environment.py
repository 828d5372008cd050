"""OD3xx rules on the machine's software and GPUs: torch and CUDA, NVML, torchvision's ops,
onnxruntime's providers. CPUs, memory, shm and the cache are in checks/resources.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.findings import Applicability, Problem, Severity, Skip
from ..core.registry import check
from ..core.units import human_bytes
from ..inspect.environment import GPU, EnvironmentFacts
from . import examples as ex

SAFE = Applicability.SAFE
GPU_FREE_FRACTION, GPU_FREE_MIN = 0.10, 1 << 30


def _version(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (text or "").split("+")[0].split(".")[:2])
    except ValueError:
        return ()


def _pip_wheel(facts: EnvironmentFacts, cuda: str | None) -> str:
    torch = facts.torch_version.split("+")[0]
    pins = f'"torch=={torch}"' + (f' "torchvision=={facts.torchvision_version.split("+")[0]}"'
                                  if facts.torchvision_version else "")
    index = f"cu{cuda.replace('.', '')}" if cuda else "cpu"
    return f"pip install --force-reinstall {pins} --index-url https://download.pytorch.org/whl/{index}"


def _require_torch(facts: EnvironmentFacts) -> None:
    if not facts.torch_version:
        raise Skip("torch is not installed")


def _gpus(gpus: tuple[GPU, ...]) -> str:
    names = sorted({g.name for g in gpus})
    return f"{len(gpus)} NVIDIA GPU{'s' if len(gpus) != 1 else ''} ({', '.join(names)})"


@check(
    "OD301", "cpu-only-torch", Severity.ERROR, "environment",
    applicability=SAFE,
    bad=[ex.gpu_box("cpu-wheel-on-gpu-box", torch_version="2.15.0+cpu", torch_cuda=None, cuda_available=False,
                    cuda_devices=0)],
    good=[ex.gpu_box("cuda-wheel"), ex.cpu_box("cpu-wheel-no-gpu")],
)
def cpu_only_torch(facts: EnvironmentFacts) -> Iterator[Problem]:
    """A CPU-only torch wheel on a machine with an NVIDIA GPU.

    What it detects:
        NVML sees a GPU, but the installed torch was built without CUDA (`torch.version.cuda`
        is None), typically from `pip install torch --index-url .../whl/cpu` or a requirements
        file written on a laptop.
    Why it matters:
        Every model runs on the CPU while the GPU waits, and nothing fails: `.cuda()` raises
        only if someone calls it (`ocrdoctor bench --device cuda` measures what is lost, once a
        CUDA build is installed).
    Fix:
        Install the CUDA build that matches the driver, e.g.
        `pip install --force-reinstall "torch==2.15.0" --index-url https://download.pytorch.org/whl/cu130`.
    Example:
        A Docker image built `FROM python` with `torch` from the CPU index, run with `--gpus all`.
    """
    _require_torch(facts)
    if facts.gpus and facts.torch_cuda is None:
        driver = f"; the driver supports CUDA {facts.driver_cuda}" if facts.driver_cuda else ""
        yield Problem(
            f"torch {facts.torch_version} is a CPU-only build but this machine has {_gpus(facts.gpus)}{driver}",
            location=f"torch {facts.torch_version}",
            fix=_pip_wheel(facts, facts.driver_cuda),
        )


@check(
    "OD302", "cuda-unusable", Severity.ERROR, "environment",
    bad=[
        ex.gpu_box("driver-too-old", cuda_available=False, cuda_devices=0, driver_cuda="12.2"),
        ex.gpu_box("hidden-by-variable", cuda_available=False, cuda_devices=0, cuda_visible_devices="-1"),
        ex.gpu_box("unknown-reason", cuda_available=False, cuda_devices=0),
    ],
    good=[ex.gpu_box("usable"), ex.cpu_box("no-gpu")],
)
def cuda_unusable(facts: EnvironmentFacts) -> Iterator[Problem]:
    """A CUDA build of torch and a GPU, but torch cannot use the GPU.

    What it detects:
        `torch.cuda.is_available()` is False although torch has CUDA support and NVML sees a
        GPU. The message says which cause applies: the driver is older than the CUDA runtime
        torch was built for, or `CUDA_VISIBLE_DEVICES` hides every GPU.
    Why it matters:
        Predictors silently stay on the CPU; `.cuda()` fails at the first call.
    Fix:
        Update the NVIDIA driver (or install a torch built for the driver's CUDA version), or
        correct `CUDA_VISIBLE_DEVICES`.
    Example:
        torch built for CUDA 13.0 on a host whose driver supports CUDA 12.2.
    """
    _require_torch(facts)
    if not (facts.gpus and facts.torch_cuda and not facts.cuda_available):
        return
    visible = facts.cuda_visible_devices
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        yield Problem(f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from torch",
                      location="CUDA_VISIBLE_DEVICES",
                      fix="unset CUDA_VISIBLE_DEVICES  # or list the GPU indices, e.g. 0")
    elif facts.driver_cuda and _version(facts.driver_cuda) < _version(facts.torch_cuda):
        yield Problem(
            f"the driver ({facts.driver_version}) supports CUDA {facts.driver_cuda} but torch was built for CUDA "
            f"{facts.torch_cuda}: torch.cuda.is_available() is False",
            location=f"driver {facts.driver_version}",
            fix=f"Update the NVIDIA driver to one supporting CUDA {facts.torch_cuda}, or: "
                f"{_pip_wheel(facts, facts.driver_cuda)}",
        )
    else:
        yield Problem(
            f"torch.cuda.is_available() is False with {_gpus(facts.gpus)} present",
            fix="Check that the container was started with GPU access (docker run --gpus all) "
                "and that python -c 'import torch; torch.cuda.init()' succeeds",
        )


@check(
    "OD303", "gpu-busy", Severity.WARNING, "environment",
    bad=[
        ex.gpu_box("little-free-memory", gpus=(GPU(0, "NVIDIA H100 80GB HBM3", (9, 0), 80 << 30, 2 << 30, 0),)),
        ex.gpu_box("other-processes", gpus=(GPU(0, "NVIDIA H100 80GB HBM3", (9, 0), 80 << 30, 70 << 30, 2),)),
    ],
    good=[ex.gpu_box("idle-gpu"), ex.cpu_box("no-gpu")],
)
def gpu_busy(facts: EnvironmentFacts) -> Iterator[Problem]:
    """The GPU is shared: little free memory, or other processes on it.

    What it detects:
        A GPU with under 10% (or under 1 GiB) of its memory free, or with other compute
        processes running.
    Why it matters:
        Latency depends on whoever else runs there; the OCR process can fail with "CUDA out of
        memory" at the first large page batch.
    Fix:
        Give the service its own GPU (`CUDA_VISIBLE_DEVICES`), or stop the other processes
        (`nvidia-smi` lists them).
    Example:
        A training job left running on the inference GPU.
    """
    for gpu in facts.gpus:
        low = gpu.memory_free < max(GPU_FREE_MIN, GPU_FREE_FRACTION * gpu.memory_total)
        if low or gpu.processes:
            parts = [f"{human_bytes(gpu.memory_free)} of {human_bytes(gpu.memory_total)} free"]
            if gpu.processes:
                parts.append(f"{gpu.processes} other process{'es' if gpu.processes != 1 else ''}")
            yield Problem(f"GPU {gpu.index} ({gpu.name}) is busy: {', '.join(parts)}",
                          location=f"cuda:{gpu.index}",
                          fix="nvidia-smi  # see who uses it; then CUDA_VISIBLE_DEVICES=<a free GPU>")


@check(
    "OD305", "broken-torchvision", Severity.ERROR, "environment",
    applicability=SAFE,
    bad=[ex.cpu_box("ops-missing", torchvision_error="RuntimeError: operator torchvision::nms does not exist")],
    good=[ex.cpu_box("ops-load"), ex.cpu_box("no-torchvision", torchvision_version=None)],
)
def broken_torchvision(facts: EnvironmentFacts) -> Iterator[Problem]:
    """torchvision's compiled operators do not load with this torch.

    What it detects:
        `torchvision.ops.nms` fails, typically with "operator torchvision::nms does not exist":
        torch and torchvision come from different builds (a CPU torch with PyPI's CUDA
        torchvision, or mismatched versions).
    Why it matters:
        docTR imports torchvision; detection post-processing and several backbones fail at
        run time.
    Fix:
        Install torch and torchvision as a matching pair from the same index.
    Example:
        `pip install torch --index-url .../whl/cpu` followed by a plain `pip install torchvision`.
    """
    if facts.torchvision_error:
        yield Problem(f"torchvision {facts.torchvision_version} does not load with torch {facts.torch_version}: "
                      f"{facts.torchvision_error}", location=f"torchvision {facts.torchvision_version}",
                      fix=_pip_wheel(facts, facts.torch_cuda))


@check(
    "OD306", "onnxruntime-provider", Severity.WARNING, "environment",
    applicability=SAFE,
    bad=[
        ex.gpu_box("cpu-provider-only", onnxruntime_packages=("onnxruntime",),
                   onnxruntime_providers=("CPUExecutionProvider",)),
        ex.gpu_box("both-packages", onnxruntime_packages=("onnxruntime", "onnxruntime-gpu")),
    ],
    good=[ex.gpu_box("gpu-provider"), ex.cpu_box("cpu-box-cpu-provider")],
)
def onnxruntime_provider(facts: EnvironmentFacts) -> Iterator[Problem]:
    """onnxruntime will run on the CPU on a machine with a GPU.

    What it detects:
        A GPU is present but onnxruntime offers no CUDA or TensorRT execution provider, or both
        `onnxruntime` and `onnxruntime-gpu` are installed (they share one module, and the CPU
        package usually wins).
    Why it matters:
        An OnnxTR / ONNX export requested on CUDA silently falls back to the CPU provider.
    Fix:
        `pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu`.
    Example:
        `pip install onnxtr[gpu]` into an environment that already had `onnxruntime`.
    """
    if not facts.onnxruntime_packages:
        raise Skip("onnxruntime is not installed")
    fix = "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu"
    names = {p.lower().replace("_", "-") for p in facts.onnxruntime_packages}
    if {"onnxruntime", "onnxruntime-gpu"} <= names:
        yield Problem("both onnxruntime and onnxruntime-gpu are installed: they overwrite one another's module",
                      location=", ".join(facts.onnxruntime_packages), fix=fix)
    elif facts.gpus and not {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(facts.onnxruntime_providers):
        yield Problem(f"onnxruntime offers only {', '.join(facts.onnxruntime_providers) or 'no providers'} "
                      f"on a machine with {_gpus(facts.gpus)}", location=", ".join(facts.onnxruntime_packages), fix=fix)


@check(
    "OD311", "onnxruntime-cuda-broken", Severity.ERROR, "environment",
    bad=[ex.gpu_box("cudnn-missing", onnxruntime_cuda_error="a session asked for CUDAExecutionProvider runs on "
                                                             "CPUExecutionProvider")],
    good=[ex.gpu_box("cuda-session-runs"), ex.cpu_box("no-cuda-provider")],
)
def onnxruntime_cuda_broken(facts: EnvironmentFacts) -> Iterator[Problem]:
    """onnxruntime lists the CUDA provider, but a session cannot run on it.

    What it detects:
        `CUDAExecutionProvider` is listed, yet a one-node session created on it (in a child
        process, so a crashing provider library cannot take ocrdoctor down) fails or falls
        back to the CPU provider.
    Why it matters:
        The listed provider loads its CUDA and cuDNN libraries only when a session starts; if
        they are missing or of the wrong major version, onnxruntime logs an error and falls
        back to the CPU. OnnxTR sets onnxruntime's log severity to fatal, so the fallback is
        silent: the "GPU" service runs on the CPU.
    Fix:
        Install the CUDA and cuDNN libraries that this onnxruntime-gpu build was made for
        (its release notes name them), or `pip install "onnxruntime-gpu[cuda,cudnn]"`.
    Example:
        `pip install onnxruntime-gpu` in an image without cuDNN 9.
    Seen in the field:
        "Onnxruntime-gpu always runs on CPU and never on GPU" although
        `get_available_providers()` lists CUDA (microsoft/onnxruntime#9302); the provider
        library fails to load and the session falls back with only an error log
        (microsoft/onnxruntime#21424).
    """
    if facts.onnxruntime_cuda_error:
        yield Problem(f"onnxruntime lists CUDAExecutionProvider but cannot use it: {facts.onnxruntime_cuda_error}",
                      location=", ".join(facts.onnxruntime_packages) or "onnxruntime")
