"""OD3xx: rules over the facts of the machine the model will run on."""

from __future__ import annotations

from typing import Iterator

from ..findings import Applicability, Problem, Severity, Skip
from ..inspect.environment import GPU, EnvironmentFacts
from ..registry import check
from ..units import human_bytes
from . import examples as ex

SAFE = Applicability.SAFE
GPU_FREE_FRACTION, GPU_FREE_MIN = 0.10, 1 << 30
RAM_MIN = 2 << 30


def _version(text: str | None) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in (text or "").split("+")[0].split(".")[:2])
    except ValueError:
        return ()


def _pip_wheel(facts: EnvironmentFacts, cuda: str | None) -> str:
    torch = facts.torch_version.split("+")[0]
    pins = f'"torch=={torch}"' + (f' "torchvision=={facts.torchvision_version.split("+")[0]}"' if facts.torchvision_version else "")
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
    bad=[ex.gpu_box("cpu-wheel-on-gpu-box", torch_version="2.15.0+cpu", torch_cuda=None, cuda_available=False, cuda_devices=0)],
    good=[ex.gpu_box("cuda-wheel"), ex.cpu_box("cpu-wheel-no-gpu")],
)
def cpu_only_torch(facts: EnvironmentFacts) -> Iterator[Problem]:
    """A CPU-only torch wheel on a machine with an NVIDIA GPU.

    What it detects:
        NVML sees a GPU, but the installed torch was built without CUDA (`torch.version.cuda`
        is None), typically from `pip install torch --index-url .../whl/cpu` or a requirements
        file written on a laptop.
    Why it matters:
        Every model runs on the CPU, often ten times slower or worse, and nothing fails:
        `.cuda()` raises only if someone calls it.
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
                      location="CUDA_VISIBLE_DEVICES", fix="unset CUDA_VISIBLE_DEVICES  # or list the GPU indices, e.g. 0")
    elif facts.driver_cuda and _version(facts.driver_cuda) < _version(facts.torch_cuda):
        yield Problem(
            f"the driver ({facts.driver_version}) supports CUDA {facts.driver_cuda} but torch was built for CUDA "
            f"{facts.torch_cuda}: torch.cuda.is_available() is False",
            location=f"driver {facts.driver_version}",
            fix=f"Update the NVIDIA driver to one supporting CUDA {facts.torch_cuda}, or: {_pip_wheel(facts, facts.driver_cuda)}",
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
                          location=f"cuda:{gpu.index}", fix="nvidia-smi  # see who uses it; then CUDA_VISIBLE_DEVICES=<a free GPU>")


@check(
    "OD304", "thread-oversubscription", Severity.WARNING, "environment",
    applicability=SAFE,
    bad=[ex.cpu_box("container-quota", cpu_quota=2.0, torch_threads=4), ex.cpu_box("affinity", cpus_affinity=2, torch_threads=4)],
    good=[ex.cpu_box("threads-match"), ex.gpu_box("threads-match-gpu")],
)
def thread_oversubscription(facts: EnvironmentFacts) -> Iterator[Problem]:
    """torch runs more threads than the CPUs this process may use.

    What it detects:
        `torch.get_num_threads()` above the CPUs available to this process: its CPU affinity
        and, in a container, the cgroup CPU quota (which torch does not read: it sizes its
        pool from the host's cores).
    Why it matters:
        Threads contend for too few CPUs and the quota throttles the whole process: CPU
        inference gets slower, often several times, with every extra thread.
    Fix:
        `torch.set_num_threads(n)` at start-up, or `OMP_NUM_THREADS=n`, with n the usable CPUs.
    Example:
        A pod limited to 2 CPUs on a 64-core node: torch starts 32 threads.
    """
    _require_torch(facts)
    usable = facts.cpus_usable
    if facts.torch_threads > usable:
        why = f"a cgroup quota of {facts.cpu_quota:g} CPUs" if facts.cpu_quota is not None and int(facts.cpu_quota) < facts.cpus_affinity \
            else f"an affinity of {facts.cpus_affinity} CPUs"
        yield Problem(
            f"torch uses {facts.torch_threads} threads but this process may use {usable} CPU{'s' if usable != 1 else ''} ({why})",
            location="torch.get_num_threads()",
            fix=f"torch.set_num_threads({usable})  # or OMP_NUM_THREADS={usable}",
        )


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
        ex.gpu_box("cpu-provider-only", onnxruntime_packages=("onnxruntime",), onnxruntime_providers=("CPUExecutionProvider",)),
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
    "OD307", "low-memory", Severity.WARNING, "environment",
    bad=[ex.cpu_box("little-ram", memory_available=1 << 30)],
    good=[ex.cpu_box("enough-ram"), ex.gpu_box("enough-ram-gpu")],
)
def low_memory(facts: EnvironmentFacts) -> Iterator[Problem]:
    """Little RAM is available for loading and running the models.

    What it detects:
        Less than 2 GiB of RAM available to new processes (psutil's `available`). GPU memory
        is covered by OD303.
    Why it matters:
        A docTR predictor holds its detection and recognition weights plus page batches in
        memory; below this the process swaps or is killed by the OOM killer mid-request.
    Fix:
        Free memory or give the service a larger memory limit; lower the predictor's
        `det_bs` / `reco_bs` batch sizes.
    Example:
        A 1 GiB container running `ocr_predictor()`.
    """
    if facts.memory_available < RAM_MIN:
        yield Problem(f"{human_bytes(facts.memory_available)} of {human_bytes(facts.memory_total)} RAM available",
                      fix="ocr_predictor(..., det_bs=1, reco_bs=32)  # smaller batches; or raise the memory limit")


SHM_MIN = 128 << 20  # Docker's default is 64 MB; docTR's pool and torch's loaders need more


@check(
    "OD308", "small-shm", Severity.WARNING, "environment",
    applicability=SAFE,
    bad=[ex.cpu_box("docker-default-64mb", shm_bytes=64 << 20), ex.cpu_box("lambda-no-shm", shm_bytes=None)],
    good=[ex.cpu_box("large-shm"), ex.cpu_box("multiprocessing-disabled", shm_bytes=None, doctr_multiprocessing=False)],
)
def small_shm(facts: EnvironmentFacts) -> Iterator[Problem]:
    """/dev/shm is missing or small while docTR's multiprocessing is enabled.

    What it detects:
        No /dev/shm at all (AWS Lambda), or one under 128 MiB (Docker's default is 64 MB),
        while `DOCTR_MULTIPROCESSING_DISABLE` is not set.
    Why it matters:
        docTR pre-processes and post-processes pages in a `multiprocessing` ThreadPool, whose
        semaphores live in /dev/shm: without it the first page fails ("Function not
        implemented"); with a small one, batches of large pages and torch's data loaders fail
        with "No space left on device" or a bus error.
    Fix:
        `export DOCTR_MULTIPROCESSING_DISABLE=TRUE` (docTR then runs that work in the calling
        thread), or give the container more: `docker run --shm-size=1g`.
    Example:
        A docTR service in AWS Lambda, or in a plain `docker run` without `--shm-size`.
    Seen in the field:
        docTR on AWS Lambda fails in its ThreadPool (mindee/doctr#1017); docTR's own
        `multithread_exec` documents the variable for this case.
    """
    if not facts.doctr_multiprocessing:
        return
    if facts.shm_bytes is None:
        yield Problem("/dev/shm is missing: docTR's ThreadPool cannot create its semaphores", location="/dev/shm",
                      fix="export DOCTR_MULTIPROCESSING_DISABLE=TRUE")
    elif facts.shm_bytes < SHM_MIN:
        yield Problem(f"/dev/shm holds only {human_bytes(facts.shm_bytes)} (Docker's default is 64 MB) and docTR's "
                      "multiprocessing is enabled", location="/dev/shm",
                      fix="export DOCTR_MULTIPROCESSING_DISABLE=TRUE  # or: docker run --shm-size=1g ...")


@check(
    "OD309", "thread-env", Severity.WARNING, "environment",
    applicability=SAFE,
    bad=[ex.cpu_box("omp-above-quota", cpu_quota=2.0, thread_variables={"OMP_NUM_THREADS": "8"}),
         ex.cpu_box("doctr-pool-above-quota", cpu_quota=2.0, doctr_workers=16, torch_threads=2)],
    good=[ex.cpu_box("omp-matches", thread_variables={"OMP_NUM_THREADS": "4"}),
          ex.cpu_box("doctr-pool-off", cpu_quota=2.0, doctr_workers=16, torch_threads=2, doctr_multiprocessing=False)],
)
def thread_env(facts: EnvironmentFacts) -> Iterator[Problem]:
    """Thread variables or docTR's worker pool above the CPUs this process may use.

    What it detects:
        `OMP_NUM_THREADS`, `MKL_NUM_THREADS` or `OPENBLAS_NUM_THREADS` set above the usable
        CPUs (affinity and cgroup quota), and docTR's worker pool, which `multithread_exec`
        sizes as min(16, cpu_count) from the host's cores, whatever the container's quota.
    Why it matters:
        torch clamps its own pool here (OD304 covers it); OpenMP, MKL and OpenBLAS in numpy and
        OpenCV do not, and docTR's pool does not: threads fight for a quota of a few CPUs and
        the process is throttled.
    Fix:
        Set the variables to the usable CPUs; for docTR's pool on a small quota,
        `DOCTR_MULTIPROCESSING_DISABLE=TRUE`.
    Example:
        `OMP_NUM_THREADS=16` baked into an image that runs in a 2-CPU pod.
    Seen in the field:
        OpenMP sizes its pool from the host's cores, not the cgroup quota
        (llvm/llvm-project#225493); oversubscribed OpenMP in containers made
        scikit-learn's CI crawl until `OMP_NUM_THREADS` was set (scikit-learn/scikit-learn#15824).
    """
    usable = facts.cpus_usable
    high = {k: v for k, v in facts.thread_variables.items() if v.strip().isdigit() and int(v) > usable}
    for name, value in sorted(high.items()):
        yield Problem(f"{name}={value} but this process may use {usable} CPU{'s' if usable != 1 else ''}",
                      location=name, fix=f"export {name}={usable}")
    if facts.doctr_multiprocessing and facts.doctr_workers > usable:
        yield Problem(f"docTR's worker pool starts {facts.doctr_workers} threads (min(16, cpu_count)) for {usable} "
                      f"usable CPU{'s' if usable != 1 else ''}", location="doctr.utils.multithreading",
                      fix="export DOCTR_MULTIPROCESSING_DISABLE=TRUE")


ORIENTATION_WEIGHTS = ("mobilenet_v3_small_crop_orientation", "mobilenet_v3_small_page_orientation")


@check(
    "OD310", "doctr-cache", Severity.WARNING, "environment",
    bad=[ex.cpu_box("read-only-home", doctr_cache_writable=False),
         ex.cpu_box("offline-empty-cache", offline=("HF_HUB_OFFLINE=1",))],
    good=[ex.cpu_box("writable-cache"),
          ex.cpu_box("offline-filled-cache", offline=("HF_HUB_OFFLINE=1",),
                     doctr_cached_models=("mobilenet_v3_small_crop_orientation-5620cf7e.pt",
                                          "mobilenet_v3_small_page_orientation-d3f76d79.pt"))],
)
def doctr_cache(facts: EnvironmentFacts) -> Iterator[Problem]:
    """docTR's cache cannot be written, or misses weights an offline machine will be asked for.

    What it detects:
        The cache folder (`DOCTR_CACHE_DIR`, else ~/.cache/doctr) cannot be created or written;
        or an offline setting is declared (`HF_HUB_OFFLINE`, `TRANSFORMERS_OFFLINE` or
        `HF_DATASETS_OFFLINE`) and the cache holds no orientation classifier weights. Only the
        folder is read: the network is never probed.
    Why it matters:
        docTR downloads pretrained weights into that folder on first use: an unwritable one
        fails with "Permission denied" at start-up. docTR builds its orientation classifiers
        with `pretrained=True` whenever `straighten_pages`, `detect_orientation` or
        `assume_straight_pages=False` ask for them, even under `pretrained=False`: offline
        with an empty cache, the predictor fails to build.
    Fix:
        `export DOCTR_CACHE_DIR=/a/writable/folder`; on an offline machine, copy the weights
        into `$DOCTR_CACHE_DIR/models` when the image is built.
    Example:
        A container running as a user without a home folder, or an air-gapped server whose
        image was built without running the predictor once.
    Seen in the field:
        "Permission denied: '/home/user/.cache/doctr'" (mindee/doctr#951); offline use with
        pretrained weights (mindee/doctr#1427).
    """
    if not facts.doctr_cache_writable:
        yield Problem(f"docTR's cache folder {facts.doctr_cache} cannot be written: the first pretrained model fails "
                      "to download", location=facts.doctr_cache or "~/.cache/doctr",
                      fix="export DOCTR_CACHE_DIR=/tmp/doctr-cache  # any writable folder")
    if facts.offline:
        missing = [w for w in ORIENTATION_WEIGHTS if not any(f.startswith(w) for f in facts.doctr_cached_models)]
        if missing:
            yield Problem(f"offline ({', '.join(facts.offline)}) and docTR's cache has no {' or '.join(missing)} "
                          "weights: straighten_pages, detect_orientation and assume_straight_pages=False will try "
                          "to download them", location=f"{facts.doctr_cache}/models",
                          fix="On a machine with network, run the predictor once with the same options, then copy "
                              f"{facts.doctr_cache}/models into the offline image")


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
