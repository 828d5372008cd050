"""What `ocrdoctor check` costs next to what users would run instead, in the same run.

Baselines, each a fresh process:
- `picklescan -p FILE` (what a security reviewer runs);
- `python -c "import torch; torch.load(FILE, weights_only=True, mmap=True)"` (a bare load).
Measured: `ocrdoctor check FILE`, on a 16 MB docTR state_dict (db_mobilenet_v3_large); runs
alternate (A B C A B C ...) so all see the same machine state; wall time and peak RSS of the child
(ru_maxrss) are compared as medians. Then the marginal cost of each extra file in one call,
(time for 20 files - time for 1) / 19, as a ratio of the bare load process, and the time for a
file of 100,000 small tensors. Targets (issue 8) are printed beside the figures.

The children run the installed package with bytecode caching on, as an installed package runs.

    pip install picklescan && python bench/bench_check.py [--runs 5] [--json out.json]

Measure the package as users run it, installed from a wheel (not editable): run the bench with that
environment's python, and `--writer` a python that has torch (the files are written by it):

    python -m venv /tmp/v && /tmp/v/bin/pip install dist/ocrdoctor-*.whl picklescan
    /tmp/v/bin/python bench/bench_check.py --writer .venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {
    "wall_vs_picklescan": 1.5, "cpu_vs_picklescan": 2.0, "wall_vs_bare_load": 0.15, "check_rss_mib": 100.0,
    "marginal_vs_bare_load": 0.01, "tensors_100k_s": 3.0,
}


def measure(cmd: list[str], env: dict) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def write_checkpoints(folder: Path, count: int, writer: str = sys.executable) -> tuple[list[Path], Path]:
    """In a child process: Linux children inherit the parent's peak RSS at fork, so the
    measuring process must never import torch itself."""
    code = (
        "import sys, torch, collections; from ocrdoctor.checks.examples import doctr_state_dict; "
        "sd = doctr_state_dict('db_mobilenet_v3_large'); "
        "[torch.save(sd, p) for p in sys.argv[2:]]; "
        "torch.save(collections.OrderedDict((f'layer{i}.weight', torch.rand(4)) for i in range(100_000)), sys.argv[1])"
    )
    paths = [folder / f"det{i:02d}.pt" for i in range(count)]
    many = folder / "tensors_100k.pt"
    subprocess.run([writer, "-W", "ignore", "-c", code, str(many), *map(str, paths)], check=True)
    return paths, many


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--writer", default=sys.executable, help="a python with torch, to write the files")
    args = parser.parse_args()
    picklescan = shutil.which("picklescan") or str(Path(sys.executable).with_name("picklescan"))
    if not Path(picklescan).exists():
        raise SystemExit("picklescan is the baseline: pip install picklescan")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    str(Path(__file__).resolve().parent.parent / "ocrdoctor")],
                   check=True)

    with tempfile.TemporaryDirectory() as tmp:
        paths, big = write_checkpoints(Path(tmp), args.files, args.writer)
        one = str(paths[0])
        commands = {
            "picklescan": [picklescan, "-p", one],
            "bare": [args.writer, "-c", f"import torch; torch.load({one!r}, weights_only=True, mmap=True)"],
            "check": [sys.executable, "-m", "ocrdoctor", "check", one],
            "many": [sys.executable, "-m", "ocrdoctor", "check", *map(str, paths)],
            "big": [sys.executable, "-m", "ocrdoctor", "check", str(big)],
        }
        for cmd in commands.values():  # warm the page cache and bytecode for all
            measure(cmd, env)
        rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                rows[name].append(measure(cmd, env))

    wall = {k: statistics.median(w for w, _, _ in v) for k, v in rows.items()}
    cpu = {k: statistics.median(c for _, c, _ in v) for k, v in rows.items()}
    rss = {k: statistics.median(m for _, _, m in v) for k, v in rows.items()}
    marginal = (wall["many"] - wall["check"]) / (args.files - 1)
    result = {
        "runs": args.runs,
        "picklescan_s": round(wall["picklescan"], 3), "bare_load_s": round(wall["bare"], 3),
        "check_s": round(wall["check"], 3),
        "wall_vs_picklescan": round(wall["check"] / wall["picklescan"], 3),
        "picklescan_cpu_s": round(cpu["picklescan"], 3), "check_cpu_s": round(cpu["check"], 3),
        "cpu_vs_picklescan": round(cpu["check"] / cpu["picklescan"], 3),
        "wall_vs_bare_load": round(wall["check"] / wall["bare"], 3),
        "picklescan_rss_mib": round(rss["picklescan"], 1), "bare_rss_mib": round(rss["bare"], 1),
        "check_rss_mib": round(rss["check"], 1),
        "rss_vs_picklescan": round(rss["check"] / rss["picklescan"], 3),
        f"check_{args.files}_files_s": round(wall["many"], 3),
        "marginal_per_file_s": round(marginal, 4),
        "marginal_vs_bare_load": round(marginal / wall["bare"], 4),
        "tensors_100k_s": round(wall["big"], 3), "tensors_100k_rss_mib": round(rss["big"], 1),
    }
    width = max(map(len, result))
    for key, value in result.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else f"   target <= {target}: {'met' if value <= target else 'MISSED'}"
        print(f"{key:<{width}}  {value}{verdict}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
