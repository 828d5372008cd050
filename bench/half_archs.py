"""OD204 / OD211 measured: each recognition architecture in float32, then float16 and bfloat16, on one device.

For every architecture: does the half-precision forward crash, does it give NaN/Inf, and how far do
its logits move from float32 (max and mean absolute difference, and the share of timesteps whose
arg-max character changes). The weights are random (nothing can be downloaded on the device
machine), so the comparison is by logits, not by text; the same seeded weights and crops are used
for every dtype. Prints one JSON object per line.

    python bench/half_archs.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ARCHS = ("crnn_vgg16_bn", "sar_resnet31", "master", "crnn_mobilenet_v3_small", "parseq")


def measure(arch: str, device: str, dtype_name: str, crops: int = 8) -> dict:
    import torch
    from doctr import models

    torch.manual_seed(0)
    model = getattr(models, arch)(pretrained=False, pretrained_backbone=False, exportable=True).eval().to(device)
    x = torch.rand(crops, 3, *model.cfg["input_shape"][-2:], generator=torch.Generator().manual_seed(1)).to(device)
    with torch.inference_mode():
        reference = _logits(model(x)).float()
        half = model.to(getattr(torch, dtype_name))
        start = time.perf_counter()
        try:
            out = _logits(half(x.to(getattr(torch, dtype_name)))).float()
        except Exception as exc:  # the crash is the measurement
            return {"arch": arch, "device": device, "dtype": dtype_name, "crash": f"{type(exc).__name__}: {exc}"[:300]}
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    finite = torch.isfinite(out)
    diff = (out - reference).abs()[finite]
    argmax = (out.argmax(-1) != reference.argmax(-1)).float().mean().item()
    return {"arch": arch, "device": device, "dtype": dtype_name, "crash": None,
            "nonfinite": int((~finite).sum()), "max_abs_diff": float(diff.max()) if diff.numel() else None,
            "mean_abs_diff": float(diff.mean()) if diff.numel() else None, "argmax_changed": round(argmax, 4),
            "seconds": round(seconds, 4)}


def _logits(out):
    return out["logits"] if isinstance(out, dict) else out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16"])
    parser.add_argument("--crops", type=int, default=8)
    args = parser.parse_args(argv)
    for arch in args.archs:
        for dtype in args.dtypes:
            print(json.dumps(measure(arch, args.device, dtype, args.crops)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
