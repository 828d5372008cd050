"""OD3xx rules on the machine's resources: CPUs and threads (cgroup quotas included), memory, shared
memory, docTR's cache.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.findings import Applicability, Problem, Severity, Skip
from ..core.registry import check
from ..core.units import count, human_bytes
from ..inspect.environment import EnvironmentFacts
from . import examples as ex

SAFE = Applicability.SAFE
RAM_MIN = 2 << 30


def _require_torch(facts: EnvironmentFacts) -> None:
    if not facts.torch_version:
        raise Skip("torch is not installed")


@check(
    "OD304", "thread-oversubscription", Severity.WARNING, "environment",
    applicability=SAFE,
    bad=[ex.cpu_box("container-quota", cpu_quota=2.0, torch_threads=4), ex.cpu_box("affinity", cpus_affinity=2,
                                                                                   torch_threads=4)],
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
        quota = facts.cpu_quota is not None and int(facts.cpu_quota) < facts.cpus_affinity
        why = f"a cgroup quota of {facts.cpu_quota:g} CPUs" if quota else f"an affinity of {facts.cpus_affinity} CPUs"
        yield Problem(
            f"torch uses {facts.torch_threads} threads but this process may use {usable} "
            f"CPU{'s' if usable != 1 else ''} ({why})",
            location="torch.get_num_threads()",
            fix=f"torch.set_num_threads({usable})  # or OMP_NUM_THREADS={usable}",
        )


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
    bad=[ex.cpu_box("docker-default-64mb", shm_bytes=64 << 20), ex.cpu_box("lambda-no-shm", shm_bytes=None),
         ex.cpu_box("onnxtr-in-lambda", shm_bytes=None, doctr_multiprocessing=False, onnxtr_multiprocessing=True)],
    good=[ex.cpu_box("large-shm"), ex.cpu_box("multiprocessing-disabled", shm_bytes=None, doctr_multiprocessing=False)],
)
def small_shm(facts: EnvironmentFacts) -> Iterator[Problem]:
    """/dev/shm is missing or small while docTR's (or OnnxTR's) multiprocessing is enabled.

    What it detects:
        No /dev/shm at all (AWS Lambda), or one under 128 MiB (Docker's default is 64 MB),
        while `DOCTR_MULTIPROCESSING_DISABLE` is not set (or, OnnxTR being installed, its
        `ONNXTR_MULTIPROCESSING_DISABLE`: OnnxTR keeps docTR's ThreadPool).
    Why it matters:
        docTR pre-processes and post-processes pages in a `multiprocessing` ThreadPool, whose
        semaphores live in /dev/shm: without it the first page fails ("Function not
        implemented"); with a small one, batches of large pages and torch's data loaders fail
        with "No space left on device" or a bus error.
    Fix:
        `export DOCTR_MULTIPROCESSING_DISABLE=TRUE` (docTR then runs that work in the calling
        thread; `ONNXTR_MULTIPROCESSING_DISABLE=TRUE` for OnnxTR), or give the container more:
        `docker run --shm-size=1g`.
    Example:
        A docTR service in AWS Lambda, or in a plain `docker run` without `--shm-size`.
    Seen in the field:
        docTR on AWS Lambda fails in its ThreadPool (mindee/doctr#1017); docTR's own
        `multithread_exec` documents the variable for this case.
    """
    pools = _pools(facts)
    if not pools:
        return
    names, fix = " and ".join(pools), _disable(pools)
    if facts.shm_bytes is None:
        yield Problem(f"/dev/shm is missing: {names}'s ThreadPool cannot create its semaphores", location="/dev/shm",
                      fix=fix)
    elif facts.shm_bytes < SHM_MIN:
        yield Problem(f"/dev/shm holds only {human_bytes(facts.shm_bytes)} (Docker's default is 64 MB) and {names}'s "
                      "multiprocessing is enabled", location="/dev/shm",
                      fix=f"{fix}  # or: docker run --shm-size=1g ...")


def _pools(facts: EnvironmentFacts) -> list[str]:
    """The libraries whose multiprocessing ThreadPool is on here: docTR's, and OnnxTR's (the same pool)."""
    return [name for name, on in (("docTR", facts.doctr_multiprocessing), ("OnnxTR", facts.onnxtr_multiprocessing))
            if on]


def _disable(pools: list[str]) -> str:
    return "export " + " ".join(f"{name.upper()}_MULTIPROCESSING_DISABLE=TRUE" for name in pools)


@check(
    "OD309", "thread-env", Severity.WARNING, "environment",
    applicability=SAFE,
    bad=[ex.cpu_box("omp-above-quota", cpu_quota=2.0, thread_variables={"OMP_NUM_THREADS": "8"}),
         ex.cpu_box("doctr-pool-above-quota", cpu_quota=2.0, doctr_workers=16, torch_threads=2),
         ex.cpu_box("onnxtr-pool-above-quota", cpu_quota=2.0, doctr_workers=16, doctr_multiprocessing=False,
                    onnxtr_multiprocessing=True)],
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
        `DOCTR_MULTIPROCESSING_DISABLE=TRUE` (OnnxTR's: `ONNXTR_MULTIPROCESSING_DISABLE=TRUE`).
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
    pools = _pools(facts)
    if pools and facts.doctr_workers > usable:
        yield Problem(f"{' and '.join(pools)}'s worker pool starts {facts.doctr_workers} threads (min(16, cpu_count)) "
                      f"for {count(usable, 'usable CPU')}", location=f"{pools[0].lower()}.utils.multithreading",
                      fix=_disable(pools))


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
