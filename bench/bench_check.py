"""How much `ocrdoctor check` costs next to the bare load it replaces.

Baseline: a fresh process running `import torch; torch.load(p, weights_only=True)`.
Measured: a fresh process running `ocrdoctor check p`. Runs alternate (A B A B ...) so
both see the same machine state; wall time and peak RSS (ru_maxrss of the child) are
compared as median ratios. Then the marginal cost of each extra file in one call:
(time for 20 files - time for 1 file) / 19, as a ratio of the bare load process.

    python bench/bench_check.py [--runs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def write_checkpoints(folder: Path, count: int) -> list[Path]:
    """In a child process: Linux children inherit the parent's peak RSS at fork, so the
    measuring process must never import torch itself."""
    code = (
        "import sys, torch; from ocrdoctor.checks.examples import doctr_state_dict; "
        "sd = doctr_state_dict('db_mobilenet_v3_large'); "
        "[torch.save(sd, p) for p in sys.argv[1:]]"
    )
    paths = [folder / f"det{i:02d}.pt" for i in range(count)]
    subprocess.run([sys.executable, "-W", "ignore", "-c", code, *map(str, paths)], check=True)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_checkpoints(Path(tmp), args.files)
        one = str(paths[0])
        bare = [sys.executable, "-c", f"import torch; torch.load({one!r}, weights_only=True)"]
        check = [sys.executable, "-m", "ocrdoctor", "check", one]
        many = [sys.executable, "-m", "ocrdoctor", "check", *map(str, paths)]
        measure(bare), measure(check)  # warm the page cache for both
        rows = {"bare": [], "check": [], "many": []}
        for _ in range(args.runs):
            rows["bare"].append(measure(bare))
            rows["check"].append(measure(check))
            rows["many"].append(measure(many))

    med = {k: (statistics.median(w for w, _ in v), statistics.median(m for _, m in v)) for k, v in rows.items()}
    per_file = (med["many"][0] - med["check"][0]) / (args.files - 1)
    result = {
        "runs": args.runs,
        "bare_load_s": round(med["bare"][0], 3),
        "check_s": round(med["check"][0], 3),
        "wall_ratio": round(med["check"][0] / med["bare"][0], 3),
        "bare_rss_mib": round(med["bare"][1], 1),
        "check_rss_mib": round(med["check"][1], 1),
        "rss_ratio": round(med["check"][1] / med["bare"][1], 3),
        f"check_{args.files}_files_s": round(med["many"][0], 3),
        "marginal_per_file_s": round(per_file, 4),
        "marginal_ratio": round(per_file / med["bare"][0], 4),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
