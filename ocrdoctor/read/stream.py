"""The streams torch hands its unpicklers, made over the reader's bytes.

The C unpickler reads differently from a stream with `peek` (a buffered file: it prefetches and
skips back after STOP) and from one without (an `io.BytesIO`, an unbuffered file): a FRAME that an
opcode straddles is read differently by the two (python/cpython#154848). So each layout's pickles
are read from the kind of stream torch.load uses for them, never from the byte source itself:
- a zip's `data.pkl`: `io.BytesIO(zip_file.get_record("data.pkl"))` (torch/serialization.py `_load`);
- a legacy file and a plain pickle: the file as `open(path, "rb")` gives it (a BufferedReader);
- a pre-0.4 tar: `tarfile.open(fileobj=<that file>)`, `pickle` through `tar.extractfile` (links
  followed as tarfile follows them), `storages` / `tensors` extracted and opened unbuffered
  (`open(..., "rb", 0)`: no peek, like a BytesIO).
"""

from __future__ import annotations

import io
from collections.abc import Callable


class _Window(io.RawIOBase):
    """Raw, seekable reads from a buffer (an mmap or bytes): what a file descriptor gives BufferedReader."""

    def __init__(self, buf):
        super().__init__()
        self._buf, self._pos = buf, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        n = max(0, min(len(target), len(self._buf) - self._pos))
        target[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._buf)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


Opener = Callable[[], io.BufferedIOBase]


def buffered(buf, buffer_size: int = io.DEFAULT_BUFFER_SIZE) -> io.BufferedReader:
    """A BufferedReader over `buf`, as `open()` gives one over a file (for bytes without a path)."""
    return io.BufferedReader(_Window(buf), buffer_size=buffer_size)


def file_opener(path: str) -> Opener:
    """The file exactly as torch.load opens it: `open(path, "rb")`, buffer size and all."""
    return lambda: open(path, "rb")


def member_stream(data: bytes) -> io.BytesIO:
    """What torch's zip reader hands the unpickler: the member's bytes in an io.BytesIO."""
    return io.BytesIO(data)
