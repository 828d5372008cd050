"""The environment doctor: real probes on this machine, injected GPU facts, failures as facts."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.api import check_environment
from ocrdoctor.checks.examples import gpu_box
from ocrdoctor.inspect.environment import GPU, cgroup_cpu_quota, inspect_environment
from tests.conftest import codes, run, run_process


def test_this_machine_is_read_without_errors():
    facts = inspect_environment()
    assert facts.torch_version == torch.__version__ and facts.torch_cuda == torch.version.cuda
    assert facts.cpus_logical >= 1 and 1 <= facts.cpus_usable <= facts.cpus_logical
    assert facts.memory_total >= facts.memory_available > 0
    assert facts.torchvision_version and facts.torchvision_error is None
    if not facts.gpus:
        assert facts.nvml_error  # no driver here: the reason is recorded, nothing raised
    assert not check_environment(facts=facts).check_errors


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "200000 100000\n"}, 2.0),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "150000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.5),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu.max": "garbage"}, None),
    ({}, None),
])
def test_cgroup_quota(tmp_path, files, expected):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_cpu_quota(tmp_path) == expected


def test_printed_thread_fix_runs_and_the_finding_goes(monkeypatch):
    before = torch.get_num_threads()
    try:
        facts = inspect_environment()
        torch.set_num_threads(facts.cpus_usable + 4)  # really oversubscribed, on this machine
        [finding] = check_environment(select=("OD304",)).findings
        assert finding.rule == "OD304" and f"may use {facts.cpus_usable} CPU" in finding.message
        exec(finding.fix, {"torch": torch})
        assert check_environment(select=("OD304",)).findings == []
    finally:
        torch.set_num_threads(before)


def test_missing_nvml_is_a_fact(monkeypatch):
    import pynvml

    def fail():
        raise pynvml.NVMLError_LibraryNotFound()

    monkeypatch.setattr(pynvml, "nvmlInit", fail)
    facts = inspect_environment(refresh=True)
    assert facts.gpus == () and "NVMLError_LibraryNotFound" in facts.nvml_error


def test_broken_torchvision_is_a_fact_and_od305(monkeypatch):
    import torchvision

    def missing(*args, **kwargs):
        raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setattr(torchvision.ops, "nms", missing)
    facts = inspect_environment(refresh=True)
    assert facts.torchvision_error == "RuntimeError: operator torchvision::nms does not exist"
    [finding] = check_environment(facts=facts, select=("OD305",)).findings
    assert finding.fix.startswith('pip install --force-reinstall "torch==')
    monkeypatch.undo()
    assert inspect_environment(refresh=True).torchvision_error is None


def test_gpu_host_situations_with_injected_facts():
    healthy = gpu_box("x").make()
    assert codes(check_environment(facts=healthy)) == []
    cpu_wheel = replace(healthy, torch_version="2.15.0+cpu", torch_cuda=None, cuda_available=False)
    [finding] = check_environment(facts=cpu_wheel).findings
    assert finding.rule == "OD301" and "NVIDIA H100 80GB HBM3" in finding.message
    assert finding.fix.endswith("--index-url https://download.pytorch.org/whl/cu130")
    old_driver = replace(healthy, cuda_available=False, driver_cuda="12.2", driver_version="535.54")
    [finding] = check_environment(facts=old_driver).findings
    assert finding.message.startswith("the driver (535.54) supports CUDA 12.2 but torch was built for CUDA 13.0")
    busy = replace(healthy, gpus=(GPU(0, "NVIDIA L4", (8, 9), 24 << 30, 512 << 20, 3),))
    [finding] = check_environment(facts=busy).findings
    assert finding.message == "GPU 0 (NVIDIA L4) is busy: 512.0 MiB of 24.0 GiB free, 3 other processes"


def test_env_command(monkeypatch):
    text = run("env")
    assert text.exit_code == 0, text.stderr
    assert text.stdout.startswith("python ") and "torch threads" in text.stdout
    assert text.stdout.rstrip().endswith("in the environment.")
    data = json.loads(run("env", "--format", "json").stdout)
    assert data["version"] == 1 and data["environment"]["torch_version"] == torch.__version__
    assert data["targets"][0]["kind"] == "environment"
    assert run("env", "--select", "OD999").exit_code == 2


@pytest.mark.slow
def test_env_process_without_colour():
    proc = run_process("env", "--format", "github")
    assert proc.returncode == 0 and proc.stderr == ""


def test_doctr_runtime_read_from_the_process_environment(tmp_path):
    """Each docTR runtime fact follows the variable docTR itself reads, on real folders."""
    from ocrdoctor.inspect.environment import _doctr_runtime

    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    from tests import torchfile as tf

    good = tf.save_zip(cache / "models" / "mobilenet_v3_small_crop_orientation-5620cf7e.pt", {"w": tf.trained({"w": (2,
                                                                                                                     )})})
    (cache / "models" / "mobilenet_v3_small_page_orientation-8e60325c.pt").write_bytes(b"")  # a failed download
    (cache / "models" / "crnn_vgg16_bn-9762b0b0.pt").write_bytes(good.read_bytes()[:200])  # cut short
    (cache / "models" / "db_resnet50-79bd7d70.pt").write_text("<html>rate limited</html>")  # an error page
    facts = _doctr_runtime({"DOCTR_CACHE_DIR": str(cache), "DOCTR_MULTIPROCESSING_DISABLE": "true",
                            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "0"})
    assert facts["doctr_cache"] == str(cache) and facts["doctr_cache_writable"]
    assert facts["doctr_cached_models"] == ("mobilenet_v3_small_crop_orientation-5620cf7e.pt",)
    assert facts["doctr_multiprocessing"] is False and facts["offline"] == ("HF_HUB_OFFLINE=1",)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = _doctr_runtime({"DOCTR_CACHE_DIR": str(blocker / "doctr")})  # docTR's mkdir would fail here
    assert unwritable["doctr_cache_writable"] is False and unwritable["doctr_multiprocessing"] is True


def test_cache_findings_on_this_machine(tmp_path, monkeypatch):
    """OD310 from the real probe: an unwritable DOCTR_CACHE_DIR, then offline with an empty cache."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DOCTR_CACHE_DIR", str(blocker / "doctr"))
    [finding] = check_environment(select=("OD310",)).findings
    assert "cannot be written" in finding.message
    monkeypatch.setenv("DOCTR_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    [finding] = check_environment(select=("OD310",)).findings
    assert "offline (HF_HUB_OFFLINE=1)" in finding.message and "crop_orientation" in finding.message


def test_thread_variable_above_the_usable_cpus_on_this_machine(monkeypatch):
    usable = inspect_environment().cpus_usable
    monkeypatch.setenv("OMP_NUM_THREADS", str(usable + 6))
    [finding] = check_environment(select=("OD309",)).findings
    assert finding.fix == f"export OMP_NUM_THREADS={usable}"
    monkeypatch.setenv("OMP_NUM_THREADS", str(usable))
    assert check_environment(select=("OD309",)).findings == []


@pytest.mark.slow
@pytest.mark.parametrize("code", ["OD309", "OD310"])
def test_printed_shell_fixes_run_as_pasted(code, tmp_path):
    """The fix lines of the environment rules, pasted into a shell before `ocrdoctor env`, clear the finding."""
    import os
    import shlex

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "OMP_NUM_THREADS": str(inspect_environment().cpus_usable + 6),
           "DOCTR_CACHE_DIR": str(blocker / "doctr")}
    command = f"{shlex.quote(sys.executable)} -m ocrdoctor env --select {code} --format json"

    def findings(prefix: str = "") -> list[dict]:
        proc = subprocess.run(["bash", "-c", f"{prefix}{command}"], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)
        return json.loads(proc.stdout)["findings"]

    before = findings()
    assert before and all(f["rule"] == code for f in before)
    fixes = "".join(f["fix"] + "\n" for f in before)  # as printed; the cache probe creates nothing
    assert findings(fixes) == []


def test_onnxruntime_cuda_probe_runs_in_a_child_process():
    """On a CPU build of onnxruntime a session asked for CUDA runs on the CPU: the probe says so."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import onnxruntime

    from ocrdoctor.inspect.ortrun import cuda_probe

    reason = cuda_probe()
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers() and torch.cuda.is_available():
        assert reason is None  # a GPU machine with a working CUDA provider
    else:
        assert reason == "a session asked for CUDAExecutionProvider runs on CPUExecutionProvider"


def test_environment_without_torch(monkeypatch):
    """The light install has no torch: its facts say so and the torch rules skip, never crash."""
    import importlib.util

    from ocrdoctor.inspect import environment

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    facts = environment.inspect_environment()
    assert facts.torch_version == "" and facts.summary()["torch"] == "not installed"
    report = check_environment(facts=replace(facts, gpus=gpu_box("x").make().gpus))
    skipped = {s.rule for t in report.targets for s in t.skipped}
    assert {"OD301", "OD302", "OD304"} <= skipped and not report.check_errors
