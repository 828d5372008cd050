"""Checkpoints where they live (https://, s3://, gs://, hf://, any fsspec protocol) as the reader's byte source.

The reader needs a zip's end record, its central directory and `data.pkl` to judge safety,
layout, architecture, vocab, dtypes and devices: kilobytes of a file of hundreds of megabytes.
`RemoteBytes` gives the reader what a memory-mapped file gives it (a length and slices of bytes),
fetched through the protocol's own fsspec filesystem (read/network.py: s3fs, gcsfs,
huggingface_hub's HfFileSystem, fsspec's HTTP) as range requests: each request reads at least `READ_AHEAD` bytes,
neighbouring ranges are joined, and nothing is read twice. fsspec's own block cache is off.

A request that fails for a reason that may pass (a timeout, a dropped connection, 429, 5xx) is
retried with backoff; a target that still cannot be read raises `RemoteError`: a run error for
that target, never a finding, so a flaky network does not look like a bad model. Credentials,
`user:token@` parts and query strings (presigned URLs) never leave this module: a target is
named by `redact(url)`, and error texts are scrubbed of the URL as given.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

READ_AHEAD = 64 << 10  # each request reads at least this much: a zip's data.pkl follows its first header


class RemoteError(Exception):
    """A remote target that could not be read: a run error for that target (exit 2), with its status code."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def is_url(text: Any) -> bool:
    """A URL of a protocol other than local files (`file://` and plain paths are read locally)."""
    if isinstance(text, Url):
        return True
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.isidentifier() and scheme.lower() not in ("file", "local")


def is_ranged(buf: Any) -> bool:
    """Whether the reader's buffer is a remote file (RemoteBytes: slices, no buffer protocol, bytes held in
    memory once fetched) rather than a mapped file or bytes."""
    return isinstance(buf, RemoteBytes)


def redact(url: str) -> str:
    """The URL as reports show it: no `user:token@`, no query string (a presigned URL's signature), no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def scrub(text: str, url: str) -> str:
    """An error text without the URL's secrets (libraries quote the URL they were given, query and all)."""
    parts = urlsplit(url)
    text = text.replace(url, redact(url))
    for secret in (parts.query, parts.password, parts.username):
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


@dataclass(frozen=True)
class Url:
    """A remote target: the URL as given (what fsspec opens) and, from a listing, its size. `str()` is redacted."""

    url: str
    size: int | None = None
    error: RemoteError | None = field(default=None, compare=False)  # the listing already failed to reach it
    requests: int = 0  # requests the listing spent on this file (its size, its first bytes)

    def __str__(self) -> str:
        return redact(self.url)

    @property
    def name(self) -> str:
        return PurePosixPath(urlsplit(self.url).path).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(urlsplit(self.url).path).suffix

    def as_posix(self) -> str:
        return str(self)


@dataclass
class Transfer:
    """What reading one remote target cost: requests sent (retries included) and bytes received."""

    requests: int = 0
    bytes_read: int = 0
    exact: bool = False  # requests are counted where they are sent (HTTP: HEAD, fallbacks and redirects too)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attempt(self, nbytes: int = 0) -> None:
        """One call to the filesystem: a request, unless the transport counts them itself."""
        self.add(0 if self.exact else 1, nbytes)

    def add(self, requests: int, nbytes: int) -> None:
        with self.lock:
            self.requests += requests
            self.bytes_read += nbytes

    def facts(self) -> dict[str, int]:
        return {"bytes_read": self.bytes_read, "requests": self.requests}


class RemoteBytes:
    """A remote file as the reader sees a mapped one: `len()` and slices (bytes), read by coalesced ranges.

    Fetched ranges are kept, joined when they touch, so every byte is requested once. A server
    whose bytes disagree with the size it declared (a short read) raises RemoteError.
    """

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, transfer: Transfer,
                 read_ahead: int = READ_AHEAD):
        self.size, self.transfer, self.read_ahead = size, transfer, read_ahead
        self._fetch = fetch
        self._starts: list[int] = []  # sorted starts of the fetched chunks
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self.failure: RemoteError | None = None  # the first failed read, kept: a caller may have swallowed it

    def raise_failure(self) -> None:
        """Raise the first failed read again: the reader takes missing bytes for a damaged file, and they are not."""
        if self.failure is not None:
            raise self.failure

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key):
        if isinstance(key, int):
            index = key + self.size if key < 0 else key
            if not 0 <= index < self.size:
                raise IndexError("index out of range")
            return self[index:index + 1][0]
        start, stop, step = key.indices(self.size)
        if step != 1:
            raise ValueError("a remote file is read in contiguous slices")
        if stop <= start:
            return b""
        with self._lock:
            self._ensure([(start, stop)])
            return self._copy(start, stop)

    def prefetch(self, spans: Iterable[tuple[int, int]]) -> None:
        """Fetch these ranges in as few requests as possible: ranges closer than the read-ahead are joined."""
        with self._lock:
            self._ensure([(max(0, a), min(b, self.size)) for a, b in spans if b > a and a < self.size])

    def forget(self) -> None:
        """Let go of every fetched byte (values already read): memory stays bounded on a large file; what is
        asked for again is fetched again."""
        with self._lock:
            self._starts, self._chunks = [], []

    def _ensure(self, spans: list[tuple[int, int]]) -> None:
        wanted = sorted(gap for a, b in spans for gap in self._missing(a, b))
        merged: list[list[int]] = []
        for a, b in wanted:
            b = max(b, min(a + self.read_ahead, self._next_start(a)))  # read ahead, up to what is already here
            if merged and a <= merged[-1][1] + self.read_ahead and self._next_start(merged[-1][1]) >= a:
                merged[-1][1] = max(merged[-1][1], b)  # close, with nothing fetched between: one request
            else:
                merged.append([a, b])
        for a, b in merged:
            try:
                data = self._fetch(a, b)
            except RemoteError as exc:
                self.failure = self.failure or exc
                raise
            if len(data) != b - a:
                self.failure = self.failure or RemoteError(
                    f"the server sent {len(data):,} of the {b - a:,} bytes asked for at offset {a:,}: "
                    f"its content and the size it declared ({self.size:,} bytes) disagree")
                raise self.failure
            self._insert(a, data)

    def _next_start(self, pos: int) -> int:
        """Where the first chunk at or after `pos` starts (the file's size when none does)."""
        at = bisect.bisect_left(self._starts, pos)
        return self._starts[at] if at < len(self._starts) else self.size

    def _missing(self, start: int, stop: int) -> Iterable[tuple[int, int]]:
        """The parts of [start, stop) no chunk holds yet."""
        at = max(0, bisect.bisect_right(self._starts, start) - 1)
        pos = start
        for s, chunk in zip(self._starts[at:], self._chunks[at:], strict=False):
            if s >= stop:
                break
            end = s + len(chunk)
            if end <= pos:
                continue
            if s > pos:
                yield pos, s
            pos = max(pos, end)
            if pos >= stop:
                return
        if pos < stop:
            yield pos, stop

    def _insert(self, start: int, data: bytes) -> None:
        """Keep a fetched range, joined with the chunks it touches or overlaps (theirs are the same bytes)."""
        stop = start + len(data)
        lo = bisect.bisect_left(self._starts, start)
        if lo > 0 and self._starts[lo - 1] + len(self._chunks[lo - 1]) >= start:
            lo -= 1
        hi = lo
        while hi < len(self._starts) and self._starts[hi] <= stop:
            hi += 1
        if lo < hi:
            first, last = self._starts[lo], self._starts[hi - 1] + len(self._chunks[hi - 1])
            new_start = min(first, start)
            joined = bytearray(max(last, stop) - new_start)
            for s, chunk in zip(self._starts[lo:hi], self._chunks[lo:hi], strict=False):
                joined[s - new_start:s - new_start + len(chunk)] = chunk
            joined[start - new_start:stop - new_start] = data
            start, data = new_start, bytes(joined)
        self._starts[lo:hi] = [start]
        self._chunks[lo:hi] = [data]

    def _copy(self, start: int, stop: int) -> bytes:
        at = bisect.bisect_right(self._starts, start) - 1
        base = self._starts[at]
        return self._chunks[at][start - base:stop - base]
