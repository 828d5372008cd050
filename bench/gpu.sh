#!/usr/bin/env bash
# The GPU figures for the note, in one call on a lent GPU machine (issue 10), with whatever Python,
# torch and docTR are installed there (no network). Every part prints its own header; a part whose
# package is missing says so and the script goes on.
#
#   bash bench/gpu.sh            # on the GPU machine
#   bash bench/gpu.sh --quick    # the CPU path, small sizes (what the test suite runs)
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if $PY -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then DEVICE=cuda; else DEVICE=cpu; fi
have() { $PY -c "import $1" 2>/dev/null; }

echo "== versions"
$PY - <<'PY'
import importlib.metadata as m, platform
for name in ("torch", "torchvision", "python-doctr", "onnxruntime", "onnxruntime-gpu", "onnx", "nvidia-ml-py"):
    try:
        print(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name} not installed")
print("python", platform.python_version())
PY

echo "== environment facts (NVML, providers, OD3xx) on $DEVICE"
$PY -m ocrdoctor env --format json || echo "ocrdoctor env failed with $?"

if ! have doctr; then
    echo "== docTR is not installed here: no bench, no architecture figures"
else
    echo "== seed comparison on one page: as given (CPU), .cuda(), .cuda().half(), ONNX Runtime"
    if [ $QUICK = 1 ]; then
        ARGS=(--det-arch fast_tiny --reco-arch crnn_mobilenet_v3_small --words 4 --repeat 1 --no-onnx)
    else
        ARGS=(--det-arch db_resnet50 --reco-arch crnn_vgg16_bn --words 150 --repeat 5)
    fi
    $PY -m ocrdoctor bench "${ARGS[@]}" --format json \
        || echo "bench failed with $?"

    echo "== OD204 / OD211: recognition architectures in half precision on $DEVICE (random weights: logits, not text)"
    if [ $QUICK = 1 ]; then
        $PY bench/half_archs.py --device "$DEVICE" --archs crnn_mobilenet_v3_small --dtypes bfloat16 --crops 1
    else
        $PY bench/half_archs.py --device "$DEVICE"
    fi
    echo "== OD204 / OD211 as diagnose reports them on $DEVICE"
    $PY - "$DEVICE" "$QUICK" <<'PY'
import sys
import torch
import ocrdoctor
from doctr import models
device, quick = sys.argv[1], sys.argv[2] == "1"
dtypes = ("bfloat16",) if quick else ("float32", "float16")
for arch in (("crnn_mobilenet_v3_small",) if quick else ("crnn_vgg16_bn", "sar_resnet31", "master", "parseq")):
    for dtype in dtypes:
        model = getattr(models, arch)(pretrained=False, pretrained_backbone=False).eval().to(device, getattr(torch, dtype))
        codes = sorted({f.rule for f in ocrdoctor.diagnose(model, environment=False).findings})
        print(f"{arch} {dtype} on {device}: {' '.join(codes) or 'clean'}")
PY
fi

if [ $QUICK = 1 ]; then
    echo "== GPU-only tests: left out (--quick)"
elif have pytest; then
    echo "== GPU-only tests"
    $PY -m pytest -q -p no:cacheprovider -k "gpu or cuda" tests/test_diagnose.py tests/test_onnx.py tests/test_environment.py \
        || echo "GPU tests exited with $?"
else
    echo "== pytest is not installed here: no GPU-only tests"
fi
