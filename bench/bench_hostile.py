"""Files built to exhaust a reader (tests/hostile.py): what `ocrdoctor check` and picklescan cost on each.

For each file, in the same run: `ocrdoctor check FILE --format json` (wall seconds, the child's own
peak memory from /proc VmHWM, the finding) and `picklescan -p FILE` (wall seconds, peak memory, exit
code), each in a fresh process and stopped at 60 s. The issue's bound is 10 s and 500 MiB per file.

    pip install picklescan && python bench/bench_hostile.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile import HOSTILE  # noqa: E402

LIMIT_S = 60
# The child reports its own peak: ru_maxrss would carry the parent's high-water mark across exec.
_PEAK = ("import runpy, sys\n"
         "try:\n    runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)\n"
         "except SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
         "peak = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1]\n"
         "sys.stderr.write(f'\\nPEAK_KIB {peak}\\n')\nsys.exit(code)\n")


def measure(module: str, *args: str) -> dict:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", _PEAK, module, *args], capture_output=True, text=True,
                              timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        return {"seconds": LIMIT_S, "timed_out": True}
    seconds = time.perf_counter() - start
    peak = proc.stderr.rsplit("PEAK_KIB", 1)[-1].strip() if "PEAK_KIB" in proc.stderr else "0"
    return {"seconds": round(seconds, 3), "peak_mib": round(int(peak) / 1024, 1), "exit": proc.returncode,
            "stdout": proc.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scan = shutil.which("picklescan") is not None
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case in HOSTILE:
            path = Path(folder) / f"{case.name}.pt"
            case.write(path)
            ours = measure("ocrdoctor", "check", str(path), "--format", "json")
            findings = sorted({f["rule"] for f in json.loads(ours.pop("stdout") or "{}").get("findings", [])})
            theirs = measure("picklescan", "-p", str(path)) if scan else {}
            theirs.pop("stdout", None)
            rows.append({"file": case.name, "bytes": path.stat().st_size, "ocrdoctor": {**ours, "findings": findings},
                         "picklescan": theirs})
            path.unlink()
    print(f"{'file':30} {'ocrdoctor':>22} {'picklescan':>26}")
    for row in rows:
        o, p = row["ocrdoctor"], row["picklescan"]
        ps = (f"{p['seconds']:6.2f}s {p.get('peak_mib', 0):6.0f}MiB exit {p.get('exit', '-')}" if p
              else "not installed")
        print(f"{row['file']:30} {o['seconds']:6.2f}s {o.get('peak_mib', 0):6.0f}MiB {','.join(o['findings']):8}"
              f" {ps}")
    worst = max(rows, key=lambda r: r["ocrdoctor"]["seconds"])["ocrdoctor"]
    print(f"worst ocrdoctor: {worst['seconds']} s; peak {max(r['ocrdoctor'].get('peak_mib', 0) for r in rows)} MiB "
          "(bound: 10 s, 500 MiB)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
