"""What half precision costs on this CPU: the figures OD205 stands on (ocrdoctor/data/half_cpu.json).

The shipped trained pair reads its sample pages through docTR's `ocr_predictor` in float32, float16
and bfloat16, in the same process, runs alternating (32, 16, b16, 32, 16, b16, ...) so each sees the
same machine state; the median page time of each dtype is divided by float32's. The words read are
compared with float32's. The row printed (and, with --record, appended to the data file, replacing
a row of the same machine and torch) holds the machine, the CPU flags that matter, torch's version,
the ratios and this command.

    python bench/bench_half_cpu.py [--runs 5] [--pages 3] [--record]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "ocrdoctor" / "data" / "half_cpu.json"
FLAGS = ("avx2", "avx512f", "avx512_fp16", "amx_fp16", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu() -> tuple[str, list[str]]:
    """The CPU's model name and which of FLAGS it has (from /proc/cpuinfo)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return name, [f for f in FLAGS if f in flags]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", type=int, default=3, help="how many of the sample pages each run reads")
    parser.add_argument("--record", action="store_true", help=f"write the row into {DATA.name}")
    args = parser.parse_args()
    import torch
    from doctr.io import DocumentFile

    from ocrdoctor.specimens.pair import sample_pages
    from ocrdoctor.treat.build import trained_predictor

    torch.set_num_threads(max(1, torch.get_num_threads()))
    pages = [DocumentFile.from_images(str(p))[0] for p in sample_pages()[: args.pages]]
    predictors = {"float32": trained_predictor()}
    predictors["float16"] = trained_predictor().to(torch.float16)
    predictors["bfloat16"] = trained_predictor().to(torch.bfloat16)
    times: dict[str, list[float]] = {d: [] for d in predictors}
    words: dict[str, list[str]] = {}
    with torch.inference_mode():
        for p in predictors.values():
            p(pages[:1])  # warm-up
        for _ in range(args.runs):
            for dtype, predictor in predictors.items():
                start = time.perf_counter()
                doc = predictor(pages)
                times[dtype].append((time.perf_counter() - start) / len(pages))
                words[dtype] = [w.value for page in doc.pages for b in page.blocks for ln in b.lines for w in ln.words]
    base = statistics.median(times["float32"])
    name, flags = cpu()
    row = {
        "machine": name, "cores": torch.get_num_threads(), "flags": flags, "torch": torch.__version__.split("+")[0],
        "float32_s_per_page": round(base, 4),
        "ratio": {d: round(statistics.median(t) / base, 2) for d, t in times.items() if d != "float32"},
        "same_words": {d: words[d] == words["float32"] for d in predictors if d != "float32"},
        "command": f"python bench/bench_half_cpu.py --runs {args.runs} --pages {args.pages}",
    }
    print(json.dumps(row, indent=2))
    if args.record:
        data = json.loads(DATA.read_text()) if DATA.exists() else {"rows": []}
        data["rows"] = [r for r in data["rows"] if (r["machine"], r["torch"]) != (row["machine"], row["torch"])]
        data["rows"].append(row)
        DATA.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
