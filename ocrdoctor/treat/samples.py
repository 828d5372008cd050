"""Synthetic document pages with real text on them: the same input for every comparison.

Randomly initialised models (the only ones this project can build offline) turn noise into
noise; a page of printed words gives the detector edges and the recognizer glyphs, as a
scanned page would. Pages are deterministic for a seed, so runs compare like with like.
"""

from __future__ import annotations

import random

import numpy as np

WORDS = ("invoice", "total", "amount", "date", "2026-11-25", "customer", "reference", "€1,240.00", "page",
         "number", "address", "delivery", "order", "VAT", "signature", "docTR", "quantity", "price")


def text_page(seed: int = 0, width: int = 768, height: int = 1024) -> np.ndarray:
    """One white page (H, W, 3 uint8) with lines of dark words in a few sizes."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(seed)
    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    y = 40
    while y < height - 60:
        size = rng.choice((18, 24, 32))
        font = ImageFont.load_default(size=size)
        x = 40
        while True:
            word = rng.choice(WORDS)
            w = draw.textlength(word, font=font)
            if x + w > width - 40:
                break
            draw.text((x, y), word, fill=(rng.randint(0, 60),) * 3, font=font)
            x += int(w) + rng.randint(12, 30)
        y += int(size * rng.uniform(1.6, 2.4))
    return np.asarray(page)


def sample_images(role: str, count: int) -> list[np.ndarray]:
    """What a model of `role` reads: whole pages for detection, word crops for recognition."""
    return [text_page(i) if role == "detection" else word_crop(i) for i in range(count)]


def word_crop(seed: int = 0, text: str | None = None) -> np.ndarray:
    """One word, as the recognizer sees it after detection (H, W, 3 uint8)."""
    from PIL import Image, ImageDraw, ImageFont

    word = text or random.Random(seed).choice(WORDS)
    font = ImageFont.load_default(size=32)
    left, top, right, bottom = font.getbbox(word)
    crop = Image.new("RGB", (right - left + 12, bottom - top + 12), (255, 255, 255))
    ImageDraw.Draw(crop).text((6 - left, 6 - top), word, fill=(20, 20, 20), font=font)
    return np.asarray(crop)
