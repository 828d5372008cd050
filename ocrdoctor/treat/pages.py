"""Pages for a reading: image files, PDFs and folders of them, read by a docTR predictor.

Each page keeps the SHA-256 of its content (an image file's bytes; a PDF's bytes and the page
number), which is how a golden recognises its pages wherever they sit. A page that cannot be
opened is a one-line PageError, never a traceback.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.timing import Spread
from ..inspect.reading import PageReading, Reading, Word
from ..specimens.pair import PAGE_SUFFIXES, sample_pages


class PageError(Exception):
    """A page cannot be used; one line, for the user."""


@dataclass(frozen=True)
class Page:
    name: str
    sha256: str
    image: np.ndarray  # H x W x 3, uint8


def load_pages(paths: Iterable[str | Path] | None = None) -> list[Page]:
    """The pages of each image or PDF, folders searched recursively (sorted); none given: the shipped samples."""
    files = _files(list(paths) if paths is not None else [])
    pages = [page for path in files for page in _open(path)]
    if not pages:
        raise PageError("no page to read: give image files, PDFs or folders holding them")
    return pages


def _files(paths: list[str | Path]) -> list[Path]:
    if not paths:
        return sample_pages()
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and _is_page(p))
            if not inside:
                raise PageError(f"no images or PDFs in {path}")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise PageError(f"page not found: {path}")
    return found


def _is_page(path: Path) -> bool:
    return path.suffix.lower() in (*PAGE_SUFFIXES, ".pdf")


def _open(path: Path) -> list[Page]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data[:5] == b"%PDF-":
        return _pdf(path, data)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            image = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise PageError(f"{path}: not an image or a PDF ({type(exc).__name__}: {exc})") from None
    return [Page(str(path), hashlib.sha256(data).hexdigest(), image)]


def _pdf(path: Path, data: bytes) -> list[Page]:
    from doctr.io import DocumentFile

    try:
        images = DocumentFile.from_pdf(data)
    except Exception as exc:  # pypdfium2 raises its own PdfiumError for broken files
        raise PageError(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from None
    return [Page(f"{path}#page={i}", hashlib.sha256(data + f"#page={i}".encode()).hexdigest(), image)
            for i, image in enumerate(images, 1)]


def read_pages(predictor: Any, pages: list[Page], label: str, *, models: Mapping[str, Mapping[str, str]] | None = None,
               on_page: Callable[[], None] | None = None, repeat: int = 1) -> Reading:
    """Each page through the predictor alone (so each has its time), its words in docTR's reading order. With
    `repeat` >= 2, each page is read that many times after one untimed warm-up call, and its time is the median
    with the fastest and slowest run (one run is no measurement); the words are the first run's."""
    if repeat > 1 and pages:
        predictor([pages[0].image])  # lazy init, allocator and caches: not part of any page's time
    read = []
    for page in pages:
        document, times = _timed_reads(predictor, page.image, max(repeat, 1))
        spread = Spread(min(times), statistics.median(times), max(times)) if len(times) > 1 else None
        read.append(PageReading(page.name, page.sha256, tuple(words_of(document.pages[0])),
                                statistics.median(times), spread, len(times)))
        if on_page:
            on_page()
    return Reading(label, tuple(read), versions=versions(), models=dict(models or {}))


def _timed_reads(predictor: Any, image: Any, repeat: int) -> tuple[Any, list[float]]:
    """The first run's document and the wall time of each of `repeat` runs."""
    first, times = None, []
    for _ in range(repeat):
        start = time.perf_counter()
        document = predictor([image])
        times.append(time.perf_counter() - start)
        first = document if first is None else first
    return first, times


def words_of(page: Any) -> list[Word]:
    """A docTR Page's words with their relative boxes (a rotated box as its bounding rectangle)."""
    out = []
    for block in page.blocks:
        for line in block.lines:
            for word in line.words:
                points = np.asarray(word.geometry, dtype=np.float64).reshape(-1, 2)
                box = (*points.min(axis=0), *points.max(axis=0))
                out.append(Word(word.value, tuple(float(c) for c in box), float(word.confidence)))
    return out


def versions() -> dict[str, str]:
    """The versions a reading depends on: an upgrade of any of them is a reason to compare."""
    from ..anatomy.versions import installed

    found = {name: installed(name) for name in ("doctr", "torch", "torchvision", "onnxruntime", "ocrdoctor")}
    return {k: v for k, v in found.items() if v}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
