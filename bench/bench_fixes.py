"""The fixes ladder for the closing note: `ocrdoctor bench` on the seed's slow predictor.

A FAST + CRNN predictor (random weights, BatchNorm calibrated on a page) made slow three ways
at once: float64 weights, FAST in its training (unfused) form, and 4x as many torch threads as
this process may use. Each fix is applied in turn, then ONNX Runtime replaces eager PyTorch;
every row does the same work. Run: python bench/bench_fixes.py [--repeat N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from ocrdoctor.inspect.environment import inspect_environment


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--words", type=int, default=150)
    args = parser.parse_args()
    threads = 4 * inspect_environment().cpus_usable
    command = [sys.executable, "-m", "ocrdoctor", "bench", "--dtype", "float64", "--threads", str(threads),
               "--repeat", str(args.repeat), "--words", str(args.words)]
    print("$", " ".join(command[2:]))
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
