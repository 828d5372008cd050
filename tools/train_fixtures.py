"""Train the docTR pair that ships with ocrdoctor: a one-time job, never run in CI.

    python tools/train_fixtures.py reco --steps 5000
    python tools/train_fixtures.py det --steps 900
    python tools/train_fixtures.py pack        # fp16 safetensors + config into ocrdoctor/data/pair

Both models are trained *through docTR's own pre-processing* (the predictor's PreProcessor resize,
padding and normalisation): a model trained on crops stretched another way reads nothing once
deployed (../shared/TRAINING.md). Words and pages here are rendered by this file's code; the
held-out figures come from `tools/render_samples.py`, other code with seeds never used here.
Seeded; run alone (two trainings on 2 cores thrash). Writes a JSON curve beside the weights.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

VOCAB = string.digits + string.ascii_lowercase
RECO_ARCH, DET_ARCH = "crnn_mobilenet_v3_small", "db_mobilenet_v3_large"
DET_SIZE = 512
WORK = Path("build/train")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FACES = [
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSansCondensed.ttf", "DejaVuSerifCondensed.ttf",
]
TRAIN_SEED = 1234


def font(rng: random.Random, size: int) -> ImageFont.FreeTypeFont:
    """A DejaVu face, or (one time in six) Pillow's own default font, at `size` pixels."""
    if rng.random() < 1 / 6:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(FONT_DIR / rng.choice(FACES)), size)


def word(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(VOCAB) for _ in range(rng.randint(1, longest)))


def colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A light background and a dark ink, per channel a little tinted."""
    bg = rng.randint(165, 255)
    ink = rng.randint(0, max(0, min(100, bg - 100)))
    tint = lambda v: tuple(int(np.clip(v + rng.randint(-12, 12), 0, 255)) for _ in range(3))  # noqa: E731
    return tint(bg), tint(ink)


def degrade(rng: random.Random, img: Image.Image) -> Image.Image:
    """Blur, low resolution and sensor noise, each now and then."""
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.2:
        w, h = img.size
        f = rng.uniform(0.5, 0.85)
        img = img.resize((max(1, int(w * f)), max(1, int(h * f)))).resize((w, h))
    arr = np.asarray(img, dtype=np.int16)
    if rng.random() < 0.3:
        arr = arr + np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(2, 10), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def word_crop(rng: random.Random, longest: int) -> tuple[np.ndarray, str]:
    """One word, cropped around its ink with random (sometimes negative) margins."""
    text = word(rng, longest)
    size = rng.randint(14, 44)
    f = font(rng, size)
    bg, ink = colours(rng)
    canvas = Image.new("RGB", (int(size * (len(text) + 4)), size * 4), bg)
    draw = ImageDraw.Draw(canvas)
    draw.text((size * 2, size), text, font=f, fill=ink)
    x0, y0, x1, y1 = draw.textbbox((size * 2, size), text, font=f)
    m = lambda lo, hi: int(round(rng.uniform(lo, hi) * size))  # noqa: E731
    box = (x0 - m(-0.05, 0.8), y0 - m(-0.05, 0.5), x1 + m(-0.05, 0.8), y1 + m(-0.05, 0.5))
    return np.asarray(degrade(rng, canvas.crop(box))), text


def page(rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """A page of words in lines; returns the image and relative (xmin, ymin, xmax, ymax) boxes."""
    w, h = rng.randint(400, 1100), rng.randint(400, 1100)
    bg, ink = colours(rng)
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    scale = max(w, h) / DET_SIZE
    boxes = []
    y = rng.randint(2, 40)
    while True:
        size = max(8, int(rng.uniform(9, 28) * scale))
        f = font(rng, size)
        if y + size * 1.4 > h:
            break
        x = rng.randint(2, max(3, w // 6))
        if rng.random() < 0.15:  # a blank line
            y += int(size * rng.uniform(1.2, 2.5))
            continue
        while x < w:
            text = word(rng, 10)
            x0, y0, x1, y1 = draw.textbbox((x, y), text, font=f)
            if x1 >= w - 2:
                break
            draw.text((x, y), text, font=f, fill=ink)
            boxes.append((x0 / w, y0 / h, x1 / w, y1 / h))
            x = x1 + int(size * rng.uniform(0.4, 2.0))
            if rng.random() < 0.08:
                break
        y += int(size * rng.uniform(1.25, 2.2))
    return np.asarray(degrade(rng, img)), np.clip(np.asarray(boxes, dtype=np.float32).reshape(-1, 4), 0, 1)


def one_cycle(step: int, total: int, peak: float) -> float:
    warm = max(1, total // 10)
    if step < warm:
        return peak * (0.04 + 0.96 * step / warm)
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def fit(model, loss_at, steps: int, peak: float, every: int, evaluate, side: str, metric: str, out: Path) -> None:
    """One-cycle AdamW with gradient clipping; every `every` steps the held-out figure, the best weights kept."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=peak, weight_decay=1e-4)
    curve, best, started = [], -1.0, time.monotonic()
    for step in range(steps):
        model.train()
        loss = loss_at(step)
        for g in opt.param_groups:
            g["lr"] = one_cycle(step, steps, peak)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if (step + 1) % every == 0 or step + 1 == steps:
            figure = evaluate(model)
            curve.append({"step": step + 1, "loss": round(loss.item(), 4), metric: figure,
                          "minutes": round((time.monotonic() - started) / 60, 1)})
            print(json.dumps(curve[-1]), flush=True)
            if figure >= best:
                best = figure
                torch.save(model.state_dict(), out / f"{side}.pt")
    (out / f"{side}_curve.json").write_text(json.dumps(curve, indent=1))


def train_reco(steps: int, out: Path, evaluate) -> None:
    import torch
    from doctr.models import crnn_mobilenet_v3_small, recognition_predictor

    torch.manual_seed(TRAIN_SEED)
    rng = random.Random(TRAIN_SEED)
    model = crnn_mobilenet_v3_small(pretrained=False, pretrained_backbone=False, vocab=VOCAB)
    pre = recognition_predictor(model).pre_processor

    def loss_at(step: int):
        longest = 4 if step < steps // 5 else 10  # short words first: CTC leaves its blank plateau sooner
        crops, texts = zip(*(word_crop(rng, longest) for _ in range(64)), strict=False)
        batch = pre.normalize(torch.stack([pre.sample_transforms(c) for c in crops]))
        return model(batch, list(texts))["loss"]

    fit(model, loss_at, steps, 3e-3, 250, evaluate, "reco", "val_word_accuracy", out)


def train_det(steps: int, out: Path, evaluate) -> None:
    import torch
    from doctr.models import db_mobilenet_v3_large, detection_predictor
    from doctr.utils import Sample

    torch.manual_seed(TRAIN_SEED + 1)
    rng = random.Random(TRAIN_SEED + 1)
    model = db_mobilenet_v3_large(pretrained=False, pretrained_backbone=False)
    model.cfg = {**model.cfg, "input_shape": (3, DET_SIZE, DET_SIZE)}  # what the predictor's pre-processor reads
    pre = detection_predictor(model).pre_processor

    def loss_at(step: int):
        images, targets = [], []
        for _ in range(4):
            img, boxes = page(rng)
            s = pre.resize(Sample(image=torch.from_numpy(img).permute(2, 0, 1).contiguous(), target=boxes))
            images.append(s.image.float() / 255)
            targets.append({"words": s.target.astype(np.float32)})
        return model(pre.normalize(torch.stack(images)), targets)["loss"]

    fit(model, loss_at, steps, 2e-3, 100, evaluate, "det", "val_box_recall", out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["reco", "det", "pack"])
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--out", type=Path, default=WORK)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    sys.path.insert(0, str(Path(__file__).parent))
    import render_samples as held_out  # other code, other seeds

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if args.what == "reco":
        train_reco(args.steps or 5000, args.out, held_out.validation("reco"))
    elif args.what == "det":
        train_det(args.steps or 900, args.out, held_out.validation("det"))
    else:
        held_out.pack(args.out)
    print(f"{args.what}: {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
