"""How long `ocrdoctor demo` takes, as a newcomer runs it: a fresh process, the median of --runs.

    python bench/bench_demo.py [--runs 3]

The README promises the demo in a minute or less on 2 cores; this measures it (never a timed test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ocrdoctor", "demo"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    print(json.dumps({"demo_seconds_median": round(statistics.median(times), 1), "fastest": round(min(times), 1),
                      "slowest": round(max(times), 1), "runs": args.runs, "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
