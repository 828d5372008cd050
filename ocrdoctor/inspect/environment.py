"""Read the machine a model will run on into plain facts: torch, CUDA, NVML, CPUs, memory,
torchvision's compiled ops and onnxruntime. Every probe turns failure into a fact (a missing
NVML library, an unreadable cgroup file, a broken torchvision), never into a crash.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.registry import one_line

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class GPU:
    index: int
    name: str
    compute_capability: tuple[int, int] | None
    memory_total: int
    memory_free: int
    processes: int  # compute processes on the GPU, this one included if it uses it


@dataclass(frozen=True)
class EnvironmentFacts:
    python: str = ""
    torch_version: str = ""
    torch_cuda: str | None = None  # CUDA version torch was built for; None for a CPU-only wheel
    cuda_available: bool = False
    cuda_devices: int = 0
    cuda_visible_devices: str | None = None  # the CUDA_VISIBLE_DEVICES variable, when set
    nvml_error: str | None = None  # why NVML could not be read (no driver, no library)
    driver_version: str | None = None
    driver_cuda: str | None = None  # newest CUDA the driver supports, e.g. "12.4"
    gpus: tuple[GPU, ...] = ()
    cpus_logical: int = 1
    cpus_physical: int | None = None
    cpus_affinity: int = 1  # CPUs this process may be scheduled on
    cpu_quota: float | None = None  # CPUs granted by the cgroup (container) quota
    torch_threads: int = 1
    thread_variables: dict[str, str] = field(default_factory=dict)
    memory_total: int = 0
    memory_available: int = 0
    torchvision_version: str | None = None
    torchvision_error: str | None = None  # why torchvision's compiled ops do not load
    onnxruntime_packages: tuple[str, ...] = ()
    onnxruntime_providers: tuple[str, ...] = ()
    onnxruntime_cuda_error: str | None = None  # why a session on the listed CUDA provider fails (child process)
    shm_bytes: int | None = None  # the size of /dev/shm; None when it is missing
    doctr_multiprocessing: bool = True  # False when DOCTR_MULTIPROCESSING_DISABLE is set
    onnxtr_multiprocessing: bool = False  # OnnxTR is installed and ONNXTR_MULTIPROCESSING_DISABLE is not set
    doctr_workers: int = 1  # docTR's worker pool: min(16, cpu_count), whatever the quota
    doctr_cache: str = ""  # DOCTR_CACHE_DIR or ~/.cache/doctr
    doctr_cache_writable: bool = True
    doctr_cached_models: tuple[str, ...] = ()  # weight files in the cache's models/ folder
    offline: tuple[str, ...] = ()  # the variables that declare this machine offline (HF_HUB_OFFLINE=1, ...)

    @property
    def cpus_usable(self) -> int:
        """CPUs this process can really use: affinity, then the container's quota."""
        usable = self.cpus_affinity
        if self.cpu_quota is not None:
            usable = min(usable, max(1, int(self.cpu_quota)))
        return usable

    def to_dict(self) -> dict:
        data = asdict(self)
        data["cpus_usable"] = self.cpus_usable
        return data

    def summary(self) -> dict[str, object]:
        gpus = ", ".join(g.name for g in self.gpus) or "none"
        return {
            "torch": (f"{self.torch_version} ({'CUDA ' + self.torch_cuda if self.torch_cuda else 'CPU-only build'})"
                      if self.torch_version else "not installed"),
            "gpus": gpus,
            "cuda_available": self.cuda_available,
            "cpus_usable": self.cpus_usable,
            "torch_threads": self.torch_threads,
        }


OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
TRUE = {"1", "ON", "YES", "TRUE"}  # what docTR's own flags accept


def inspect_environment(refresh: bool = False) -> EnvironmentFacts:
    """Cheap facts are read each call; NVML, torchvision and onnxruntime once per process
    unless `refresh` (they do not change while a process runs, and cost most of the time)."""
    import platform

    import psutil

    if refresh:
        for probe in (_nvml, _torchvision, _onnxruntime):
            probe.cache_clear()

    memory = psutil.virtual_memory()
    nvml = _nvml()
    return EnvironmentFacts(
        python=platform.python_version(),
        **_torch(),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        cpus_logical=psutil.cpu_count(logical=True) or 1,
        cpus_physical=psutil.cpu_count(logical=False),
        cpus_affinity=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (psutil.cpu_count() or 1),
        cpu_quota=cgroup_cpu_quota(),
        thread_variables={k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        memory_total=memory.total,
        memory_available=memory.available,
        **nvml,
        **_torchvision(),
        **_onnxruntime(),
        **_doctr_runtime(),
    )


def _torch() -> dict:
    """torch's build and CUDA state; empty facts when torch is not installed (the checkpoint path needs none)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return {}
    import torch

    available = torch.cuda.is_available()
    return {"torch_version": torch.__version__, "torch_cuda": torch.version.cuda, "cuda_available": available,
            "cuda_devices": torch.cuda.device_count() if available else 0, "torch_threads": torch.get_num_threads()}


def _doctr_runtime(environ=os.environ) -> dict:
    """What docTR's runtime leans on: /dev/shm for its pool, its worker count, its cache folder."""
    import multiprocessing

    cache = Path(environ.get("DOCTR_CACHE_DIR") or Path.home() / ".cache" / "doctr")
    try:
        shm = os.statvfs("/dev/shm")
        shm_bytes: int | None = shm.f_frsize * shm.f_blocks
    except OSError:
        shm_bytes = None
    models = cache / "models"
    try:
        cached = tuple(sorted(p.name for p in models.iterdir() if _usable(p))) if models.is_dir() else ()
    except OSError:
        cached = ()
    return {
        "shm_bytes": shm_bytes,
        "doctr_multiprocessing": environ.get("DOCTR_MULTIPROCESSING_DISABLE", "").upper() not in TRUE,
        "onnxtr_multiprocessing": importlib.util.find_spec("onnxtr") is not None  # the same ThreadPool as docTR's
        and environ.get("ONNXTR_MULTIPROCESSING_DISABLE", "").upper() not in TRUE,
        "doctr_workers": min(16, multiprocessing.cpu_count()),  # docTR's multithread_exec, as it sizes its pool
        "doctr_cache": str(cache),
        "doctr_cache_writable": _writable(cache),
        "doctr_cached_models": cached,
        "offline": tuple(f"{k}={environ[k]}" for k in OFFLINE_VARIABLES if environ.get(k, "").upper() in TRUE),
    }


def _usable(path: Path) -> bool:
    """A cached weight file docTR could load: a non-empty checkpoint, and a zip with its directory at the end
    (a failed download leaves an empty or truncated file, which docTR then fails to load offline)."""
    from ..read.archive import LOCAL_MAGIC
    from ..read.sniff import is_checkpoint_content

    try:
        size = path.stat().st_size
        if not path.is_file() or size == 0:
            return False
        with path.open("rb") as f:
            head = f.read(512)
            if not is_checkpoint_content(head):
                return False
            if head.startswith(LOCAL_MAGIC):
                f.seek(max(0, size - (1 << 16) - 22))
                return b"PK\x05\x06" in f.read()
    except OSError:
        return False
    return True


def _writable(folder: Path) -> bool:
    """Whether docTR can write there: the folder, or the nearest existing folder above it it would create it in."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK)
    return False


@functools.lru_cache(maxsize=1)  # slow and stable: probed once per process
def _nvml() -> dict:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # no driver / no library on this machine: a fact, not an error
        return {"nvml_error": one_line(exc)}
    try:
        gpus = tuple(_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount()))
        version = pynvml.nvmlSystemGetCudaDriverVersion()
        driver = pynvml.nvmlSystemGetDriverVersion()
        return {
            "gpus": gpus,
            "driver_version": driver.decode() if isinstance(driver, bytes) else driver,
            "driver_cuda": f"{version // 1000}.{version % 1000 // 10}",
        }
    except Exception as exc:
        return {"nvml_error": one_line(exc)}
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _gpu(pynvml, index: int) -> GPU:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(handle)
    memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
    try:
        capability = tuple(pynvml.nvmlDeviceGetCudaComputeCapability(handle))
    except Exception:
        capability = None
    try:
        processes = len(pynvml.nvmlDeviceGetComputeRunningProcesses(handle))
    except Exception:
        processes = 0
    return GPU(index, name.decode() if isinstance(name, bytes) else name, capability,
               int(memory.total), int(memory.free), processes)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by a cgroup v2 (cpu.max) or v1 (cfs quota) limit; None when unlimited or unreadable."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=1)  # slow and stable: probed once per process
def _torchvision() -> dict:
    import importlib.metadata

    try:
        version = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return {}
    try:
        import torch
        import torchvision

        torchvision.ops.nms(torch.zeros((1, 4)), torch.zeros(1), 0.5)  # needs the compiled ops
        return {"torchvision_version": version}
    except Exception as exc:
        return {"torchvision_version": version, "torchvision_error": one_line(exc)}


@functools.lru_cache(maxsize=1)  # slow and stable: probed once per process
def _onnxruntime() -> dict:
    import importlib.metadata

    packages = tuple(sorted(
        name for name in (d.metadata["Name"] for d in importlib.metadata.distributions()) if name
        and name.lower().replace("_", "-").startswith("onnxruntime")
    ))
    if not packages:
        return {}
    try:
        import onnxruntime

        providers = tuple(onnxruntime.get_available_providers())
    except Exception:
        return {"onnxruntime_packages": packages}
    facts = {"onnxruntime_packages": packages, "onnxruntime_providers": providers}
    if "CUDAExecutionProvider" in providers:
        facts["onnxruntime_cuda_error"] = cuda_session_error()
    return facts


def cuda_session_error() -> str | None:
    """Create a session on the CUDA provider in a child process; why it falls back or crashes, or None.

    OnnxTR sets onnxruntime's log severity to fatal, so a CUDA provider that cannot load (cuDNN
    or CUDA libraries missing) falls back to the CPU in silence; a child process also survives
    a crashing provider library.
    """
    from .ortrun import cuda_probe

    return cuda_probe()
