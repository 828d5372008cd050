"""Files built to exhaust a reader (tests/hostile.py): each ends in a finding, with JSON, bounded.

Each file is checked by the real command in its own process; the process reports its own peak
memory (VmHWM: the high-water mark of its own address space, not the one inherited across exec).
The bound asserted is memory, which does not depend on the machine's load; time is bounded by the
subprocess timeout and measured in bench/bench_hostile.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ocrdoctor.api import check_path
from ocrdoctor.read.limits import TABLE
from tests.hostile import HOSTILE

PEAK_MIB = 500
_RUN = """
import sys
from ocrdoctor.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
sys.stderr.write(f"\\nPEAK_KIB {peak}\\n")
sys.exit(code)
"""


def run_measured(*args, timeout: int = 120) -> tuple[int, dict, float]:
    """(exit code, JSON report, peak MiB) of `ocrdoctor check ... --format json` in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", _RUN, "check", *map(str, args), "--format", "json"],
                          capture_output=True, text=True, timeout=timeout)
    peak = int(proc.stderr.rsplit("PEAK_KIB", 1)[1]) / 1024
    return proc.returncode, json.loads(proc.stdout), peak


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.mark.slow
@pytest.mark.parametrize("case", HOSTILE, ids=repr)
def test_hostile_file_is_bounded_and_named(case, folder):
    path = folder / f"{case.name}.pt"
    case.write(path)
    before = path.stat().st_size
    code, report, peak = run_measured(path)
    findings = [f for f in report["findings"] if f["rule"] == case.expects]
    assert code == 1 and findings, report["findings"]
    assert "internal error" not in json.dumps(report)
    assert peak < PEAK_MIB, f"peak {peak:.0f} MiB"
    if case.limit:
        assert f"`{case.limit}`" in findings[0]["message"] and findings[0]["location"] == case.limit
        assert "--no-limits" in findings[0]["message"] and "[tool.ocrdoctor.limits]" in findings[0]["message"]
    assert path.stat().st_size == before
    path.unlink()


def test_the_corpus_covers_every_limit():
    assert len(HOSTILE) >= 15
    assert {c.limit for c in HOSTILE if c.limit} == set(TABLE)


def test_a_limit_raised_in_pyproject_reads_the_file(tmp_path):
    """[tool.ocrdoctor.limits] overrides one limit: the same file is then read whole, and the override is named."""
    case = next(c for c in HOSTILE if c.name == "shared-storage-200k")
    path = tmp_path / "shared.pt"
    case.write(path)
    (tmp_path / "pyproject.toml").write_text("[tool.ocrdoctor.limits]\nshared = 300000\n")
    proc = subprocess.run([sys.executable, "-m", "ocrdoctor", "check", str(path), "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "OD125" not in {f["rule"] for f in json.loads(proc.stdout)["findings"]}
    (tmp_path / "pyproject.toml").write_text("[tool.ocrdoctor.limits]\nshard = 3\n")
    proc = subprocess.run([sys.executable, "-m", "ocrdoctor", "check", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "unknown limit 'shard'" in proc.stderr and "Traceback" not in proc.stderr


def test_no_limits_lifts_them(tmp_path):
    case = next(c for c in HOSTILE if c.name == "distinct-globals-21k")
    path = tmp_path / "globals.pkl"
    case.write(path)
    assert "OD125" in {f.rule for f in check_path(path).findings}
    assert "OD125" not in {f.rule for f in check_path(path, no_limits=True).findings}
    proc = subprocess.run([sys.executable, "-m", "ocrdoctor", "check", str(path), "--no-limits", "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert "OD125" not in {f["rule"] for f in json.loads(proc.stdout)["findings"]}


@pytest.mark.slow
def test_real_checkpoints_stay_far_below_the_limits(tmp_path):
    """A docTR checkpoint and a 100,000-tensor file are read whole: no OD125."""
    torch = pytest.importorskip("torch")
    from ocrdoctor.checks import examples as ex

    big = {f"layer{i}.bias": torch.full((2,), 0.5 + i % 7) for i in range(100_000)}
    torch.save(big, tmp_path / "many.pt")
    torch.save(ex.doctr_state_dict("db_mobilenet_v3_large"), tmp_path / "det.pt")
    for name in ("many.pt", "det.pt"):
        assert "OD125" not in {f.rule for f in check_path(tmp_path / name).findings}
