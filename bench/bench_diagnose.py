"""How long `ocrdoctor.diagnose(predictor)` takes on a docTR predictor, and what it costs beside a page.

Predictor: db_mobilenet_v3_large + crnn_mobilenet_v3_large built from model objects (as a
custom deployment does). Reported: the first call (which probes NVML, torchvision and
onnxruntime), the median of warm calls with and without the environment rules, and, as the
baseline from the same process, the median time of the predictor on one synthetic page.

    python bench/bench_diagnose.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def timed(fn, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from doctr import models

    import ocrdoctor
    from ocrdoctor.checks.examples import doctr_model

    predictor = models.ocr_predictor(
        det_arch=doctr_model("db_mobilenet_v3_large").eval(),
        reco_arch=doctr_model("crnn_mobilenet_v3_large").eval(),
        pretrained=False,
    )
    start = time.perf_counter()
    ocrdoctor.diagnose(predictor)
    first = time.perf_counter() - start
    warm = timed(lambda: ocrdoctor.diagnose(predictor), args.repeats)
    model_only = timed(lambda: ocrdoctor.diagnose(predictor, environment=False), args.repeats)
    page = (np.random.default_rng(0).random((1024, 768, 3)) * 255).astype(np.uint8)
    predictor([page])
    page_time = timed(lambda: predictor([page]), max(3, args.repeats // 5))
    rows = {
        "first_call_ms": first * 1e3,
        "warm_diagnose_ms": warm * 1e3,
        "warm_model_only_ms": model_only * 1e3,
        "one_page_inference_ms": page_time * 1e3,
        "warm_diagnose_vs_one_page": warm / page_time,
    }
    for key, value in rows.items():
        print(f"{key:<28} {value:.3f}")


if __name__ == "__main__":
    main()
