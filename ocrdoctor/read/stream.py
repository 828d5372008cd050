"""A file-like window on a buffer (an mmap or bytes), for the C unpickler.

It offers `peek`, so the unpickler reads ahead in large chunks and leaves the position exactly
after each pickle's STOP, as it does on a real file; and every read is capped at the window's
end, so a length field in a hostile pickle can never make it allocate more than the file holds.
"""

from __future__ import annotations

_CHUNK = 1 << 17


class BufferStream:
    def __init__(self, buf, start: int = 0, end: int | None = None):
        self.buf = buf
        self.pos = start
        self.end = len(buf) if end is None else min(end, len(buf))

    def read(self, n: int = -1) -> bytes:
        stop = self.end if n is None or n < 0 else min(self.end, self.pos + n)
        data = bytes(self.buf[self.pos:stop])
        self.pos = max(self.pos, stop)
        return data

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def readline(self, limit: int = -1) -> bytes:
        newline = self.buf.find(b"\n", self.pos, self.end)
        stop = self.end if newline < 0 else newline + 1
        if limit is not None and limit >= 0:
            stop = min(stop, self.pos + limit)
        return self.read(stop - self.pos)

    def peek(self, n: int = 0) -> bytes:
        return bytes(self.buf[self.pos:min(self.end, self.pos + max(n, _CHUNK))])

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.end}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def remaining(self) -> int:
        return max(0, self.end - self.pos)
