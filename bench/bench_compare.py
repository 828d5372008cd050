"""What `ocrdoctor.compare` costs beyond running the two predictors, and what each candidate dtype reads.

In one process, alternating runs (A B A B ...) so both see the same machine state:
- A: both predictors (the trained pair, built once) read the sample pages one page per call,
  exactly the calls compare makes, and nothing else;
- B: `ocrdoctor.compare(base, candidate)` on the same pages (reading, word alignment with
  rapidfuzz, box matching, the OD6xx rules, the Report).
The overhead is (median B - median A) / median A; target <= 5% (issue 16).
Then the words each candidate dtype reads against float32, on the same pages (the words-read
column of a precision ladder), with its time per page as a ratio of the float32 base.
Last, the seed ladder on the trained pair (float64 weights, layers left in training mode, 2x as
many threads as usable CPUs) with its words column: `ocrdoctor bench`'s rows, each reading the
sample pages, and what reading them costs the ladder (the same ladder run without reading).

    python bench/bench_compare.py [--runs 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

TARGET_OVERHEAD = 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", dest="out")
    args = parser.parse_args()

    import torch

    import ocrdoctor
    from ocrdoctor.treat.pages import load_pages

    torch.set_num_threads(2)
    base, candidate = ocrdoctor.trained_predictor(), ocrdoctor.trained_predictor()
    pages = load_pages(None)
    images = [p.image for p in pages]

    def predictors_only() -> None:
        for image in images:
            base([image])
        for image in images:
            candidate([image])

    def compared() -> None:
        ocrdoctor.compare(base, candidate)

    predictors_only(), compared()  # warm both paths
    a, b = [], []
    for _ in range(args.runs):
        for runs, func in ((a, predictors_only), (b, compared)):
            start = time.perf_counter()
            func()
            runs.append(time.perf_counter() - start)
    overhead = (statistics.median(b) - statistics.median(a)) / statistics.median(a)
    figures = {"pages": len(pages), "runs": args.runs, "predictors_s": statistics.median(a),
               "compare_s": statistics.median(b), "overhead": overhead, "target_overhead": TARGET_OVERHEAD}
    print(f"compare on {len(pages)} pages: {figures['compare_s']:.2f} s; the two predictors alone "
          f"{figures['predictors_s']:.2f} s; overhead {overhead:+.1%} (target <= {TARGET_OVERHEAD:.0%})")

    figures["dtypes"] = {}
    for dtype in ("float64", "bfloat16", "float16"):
        cast = ocrdoctor.trained_predictor().to(getattr(torch, dtype))
        try:
            result = ocrdoctor.compare(base, cast)
        except Exception as exc:  # the outcome is the figure: a dtype that cannot run on this CPU says why
            figures["dtypes"][dtype] = {"error": str(exc)}
            print(f"{dtype:>9}: {exc}")
            continue
        words = sum(p.comparison.words for p in result.pages)
        same = sum(p.comparison.same for p in result.pages)
        ratio = sum(p.comparison.seconds_candidate for p in result.pages) / \
            sum(p.comparison.seconds_base for p in result.pages)
        figures["dtypes"][dtype] = {"words": words, "same": same, "time_vs_float32": ratio,
                                    "findings": sorted({f.rule for f in result.findings})}
        print(f"{dtype:>9}: {same}/{words} words read the same, {ratio:.2f}x the float32 time per page, "
              f"findings {figures['dtypes'][dtype]['findings'] or 'none'}")
    figures["ladder"] = _seed_ladder(torch)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(figures, f, indent=2)
    return 0 if overhead <= TARGET_OVERHEAD else 1


def _seed_ladder(torch) -> dict:
    import ocrdoctor
    from ocrdoctor.inspect.environment import inspect_environment
    from ocrdoctor.treat.bench import bench

    def seed():
        predictor = ocrdoctor.trained_predictor().to(torch.float64)
        for part in (predictor.det_predictor, predictor.reco_predictor):
            for layer in part.model.children():
                layer.train(True)
        torch.set_num_threads(2 * inspect_environment().cpus_usable)
        return predictor

    figures = {}
    for read in (False, True):
        start = time.perf_counter()
        result = bench(seed(), words=150, repeat=3, read=read)
        figures["with_words" if read else "without_words"] = time.perf_counter() - start
    print(result.table())
    figures["rows"] = [{"variant": r.variant, "step": r.step, "total": r.speedup, "measurable": r.measurable,
                        "words_same": r.words_same, "words_total": r.words_total} for r in result.rows]
    figures["reading_cost"] = figures["with_words"] / figures["without_words"]
    print(f"the ladder took {figures['with_words']:.1f} s with its words column, {figures['without_words']:.1f} s "
          f"without ({figures['reading_cost']:.2f}x)")
    torch.set_num_threads(2)
    return figures


if __name__ == "__main__":
    raise SystemExit(main())
