"""Held-out words and pages for the shipped pair: rendered by other code than the training's.

Same domain as `train_fixtures.py` (printed digits and lower-case words on plain backgrounds,
DejaVu faces and Pillow's default font) but another layout (baseline-anchored lines, word gaps
from the font's own space), other crop rules, numpy's generator and seeds the training never uses.
Validation seeds pick the checkpoint; test seeds give the figures the pair ships with; the sample
seed renders the pages and crops `ocrdoctor compare` reads by default.
"""

from __future__ import annotations

import json
import string
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

VOCAB = string.digits + string.ascii_lowercase
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FACES = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf"]
SEEDS = {"reco-val": 101, "det-val": 102, "reco-test": 201, "page-test": 202, "samples": 301}
PAPER = [(255, 255, 255), (250, 247, 238), (236, 236, 236), (244, 240, 250)]
INKS = [(0, 0, 0), (20, 30, 90), (60, 60, 60), (90, 20, 20)]
PAIR = Path(__file__).resolve().parents[1] / "ocrdoctor" / "data" / "pair"


def face(gen: np.random.Generator, size: int) -> ImageFont.FreeTypeFont:
    pick = int(gen.integers(len(FACES) + 1))
    if pick == len(FACES):
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(FONT_DIR / FACES[pick]), size)


def text(gen: np.random.Generator, shortest: int = 2, longest: int = 8) -> str:
    return "".join(VOCAB[i] for i in gen.integers(len(VOCAB), size=int(gen.integers(shortest, longest + 1))))


def crops(seed: int, n: int) -> tuple[list[np.ndarray], list[str]]:
    """Word crops: half snug (a pixel or two of margin), half with a loose, even margin."""
    gen = np.random.default_rng(seed)
    images, words = [], []
    for i in range(n):
        size = int(gen.integers(16, 37))
        f, w = face(gen, size), text(gen)
        paper, ink = PAPER[gen.integers(len(PAPER))], INKS[gen.integers(len(INKS))]
        left, top, right, bottom = f.getbbox(w, anchor="ls")
        pad_x = 2 if i % 2 else int(size * gen.uniform(0.15, 0.45))
        pad_y = 2 if i % 2 else int(size * gen.uniform(0.1, 0.3))
        img = Image.new("RGB", (right - left + 2 * pad_x, bottom - top + 2 * pad_y), paper)
        ImageDraw.Draw(img).text((pad_x - left, pad_y - top), w, font=f, fill=ink, anchor="ls")
        images.append(np.asarray(img))
        words.append(w)
    return images, words


def pages(seed: int, n: int) -> tuple[list[np.ndarray], list[list[str]], list[np.ndarray]]:
    """Portrait or landscape pages of left-aligned lines; words, and their relative ink boxes."""
    gen = np.random.default_rng(seed)
    images, words, boxes = [], [], []
    for _ in range(n):
        w, h = (850, 1100) if gen.random() < 0.6 else (1000, 700)
        size = int(gen.integers(24, 40))
        f = face(gen, size)
        paper, ink = PAPER[gen.integers(len(PAPER))], INKS[gen.integers(len(INKS))]
        img = Image.new("RGB", (w, h), paper)
        draw = ImageDraw.Draw(img)
        gap, margin = f.getlength("  "), int(w * 0.08)
        page_words, page_boxes = [], []
        baseline = margin + size
        while baseline + size < h - margin:
            x = margin
            for _ in range(int(gen.integers(2, 7))):
                word = text(gen)
                x0, y0, x1, y1 = draw.textbbox((x, baseline), word, font=f, anchor="ls")
                if x1 > w - margin:
                    break
                draw.text((x, baseline), word, font=f, fill=ink, anchor="ls")
                page_words.append(word)
                page_boxes.append((x0 / w, y0 / h, x1 / w, y1 / h))
                x = x1 + gap
            baseline += int(size * 1.9)
        images.append(np.asarray(img))
        words.append(page_words)
        boxes.append(np.asarray(page_boxes, dtype=np.float32))
    return images, words, boxes


def box_recall(truth: list[np.ndarray], found: list[np.ndarray]) -> float:
    """True boxes found at IoU 0.5, over all pages (ocrdoctor's own matching, as `compare` measures)."""
    from ocrdoctor.inspect.comparison import boxes_found

    hit = sum(boxes_found(t, f[:, :4] if len(f) else np.zeros((0, 4))) * len(t) for t, f in zip(truth, found,
                                                                                                strict=False))
    return round(hit / max(1, sum(len(t) for t in truth)), 4)


def word_recall(truth: list[list[str]], read: list[list[str]]) -> float:
    """Each true word found once among the words read on its page (a multiset match)."""
    hit = 0
    for t, r in zip(truth, read, strict=False):
        left = list(r)
        for w in t:
            if w in left:
                left.remove(w)
                hit += 1
    return round(hit / max(1, sum(len(t) for t in truth)), 4)


def validation(kind: str):
    """A function of a model in training giving its held-out figure (validation seeds)."""
    from doctr.models import detection_predictor, recognition_predictor

    if kind == "reco":
        images, words = crops(SEEDS["reco-val"], 256)

        def accuracy(model) -> float:
            read = [w for w, _ in recognition_predictor(model)(images)]
            return round(sum(a == b for a, b in zip(read, words, strict=False)) / len(words), 4)

        return accuracy
    images, _, boxes = pages(SEEDS["det-val"], 6)

    def recall(model) -> float:
        found = [p["words"] for p in detection_predictor(model)(images)]
        return box_recall(boxes, found)

    return recall


def pack(work: Path) -> None:
    """Write the fp16 pair into the package, its samples, and its test-seed figures (held_out.json)."""
    write_weights(work, ("det", "reco"))
    write_samples()
    held_out(work)


def write_weights(work: Path, sides: tuple[str, ...]) -> None:
    """Each side's best checkpoint as float16 safetensors, its docTR config in the metadata."""
    import torch
    from doctr.models import crnn_mobilenet_v3_small, db_mobilenet_v3_large
    from safetensors.torch import save_file

    PAIR.mkdir(parents=True, exist_ok=True)
    det_cfg = db_mobilenet_v3_large(pretrained=False, pretrained_backbone=False).cfg
    cfgs = {"det": {**det_cfg, "input_shape": (3, 512, 512)},
            "reco": crnn_mobilenet_v3_small(pretrained=False, pretrained_backbone=False, vocab=VOCAB).cfg}
    tasks = {"det": ("db_mobilenet_v3_large", "detection"), "reco": ("crnn_mobilenet_v3_small", "recognition")}
    for side in sides:
        state = torch.load(work / f"{side}.pt", map_location="cpu", weights_only=True)
        half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
        arch, task = tasks[side]
        metadata = {"arch": arch, "task": task, **{k: json.dumps(list(cfgs[side][k])) for k in ("mean", "std",
                                                                                                "input_shape")}}
        if side == "reco":
            metadata["vocab"] = VOCAB
        save_file(half, str(PAIR / f"{side}.safetensors"), metadata)
        (PAIR / f"{side}.safetensors").chmod(0o644)  # package data: readable by all (safetensors writes 0600)


def write_samples() -> None:
    """The sample pages and word crops `compare` reads by default, with their true words."""
    samples = PAIR / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    images, words, _ = pages(SEEDS["samples"], 3)
    for i, img in enumerate(images, 1):
        Image.fromarray(img).save(samples / f"page-{i}.png", optimize=True)
    word_images, word_texts = crops(SEEDS["samples"], 24)
    for i, img in enumerate(word_images, 1):
        Image.fromarray(img).save(samples / f"word-{i:02d}.png", optimize=True)
    truth = {"pages": {f"page-{i}.png": w for i, w in enumerate(words, 1)},
             "words": {f"word-{i:02d}.png": w for i, w in enumerate(word_texts, 1)}}
    (samples / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")


def held_out(work: Path) -> None:
    """Test-seed figures, through docTR's own predictors built from the shipped files."""
    from doctr.models import detection_predictor, recognition_predictor

    import ocrdoctor

    started = time.monotonic()
    predictor = ocrdoctor.trained_predictor()
    images, words = crops(SEEDS["reco-test"], 500)
    read = [w for w, _ in recognition_predictor(predictor.reco_predictor.model)(images)]
    reco_acc = sum(a == b for a, b in zip(read, words, strict=False)) / len(words)
    page_images, page_words, page_boxes = pages(SEEDS["page-test"], 12)
    doc = predictor(page_images)
    read_pages = [[w.value for b in p.blocks for line in b.lines for w in line.words] for p in doc.pages]
    found = [p["words"] for p in detection_predictor(predictor.det_predictor.model)(page_images)]
    figures = {
        "word_accuracy_on_crops": round(reco_acc, 4), "crops": len(words),
        "page_word_recall": word_recall(page_words, read_pages), "pages": len(page_images),
        "words_on_pages": sum(map(len, page_words)), "box_recall_iou_0.5": box_recall(page_boxes, found),
        "seeds": {"crops": SEEDS["reco-test"], "pages": SEEDS["page-test"]},
        "curves": {side: json.loads((work / f"{side}_curve.json").read_text()) for side in ("det", "reco")},
        "evaluated_in_s": round(time.monotonic() - started, 1),
    }
    (PAIR / "held_out.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "curves"}, indent=1))
