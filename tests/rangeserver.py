"""A local HTTP server that honours `Range` and counts every request and byte it sends, with the ways a
server misbehaves on demand: a size it lies about, a body it cuts short, a stall, ranges ignored,
failures that pass. With `hub=True` it also answers the few Hugging Face Hub API calls
huggingface_hub's HfFileSystem makes (a repository's info and tree, files under `resolve/`), serving
the folder as the repository `org/repo`. Used by tests/test_remote.py and bench/bench_remote.py."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


@dataclass
class Behaviour:
    """How the server misbehaves (all off: an honest server)."""

    declared: int | None = None  # the size HEAD and Content-Range claim, whatever the file holds
    cut_after: int | None = None  # send at most this many body bytes of a response, then close the connection
    stall: bool = False  # accept GETs and never answer them
    ignore_range: bool = False  # answer every GET with the whole file (200)
    fail_first: int = 0  # answer the first N requests 503
    status: int | None = None  # answer every request with this status
    latency: float = 0.0  # seconds before each answer: a server far away


@dataclass
class Counts:
    """What the server saw: one entry per request (HEAD, GET, redirects), and the body bytes it sent."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.bytes_sent = 0


HUB_REPO = "org/repo"


def _handler(folder: Path, behaviour: Behaviour, counts: Counts, release: threading.Event, hub: bool = False):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _count(self) -> int:
            if behaviour.latency:
                time.sleep(behaviour.latency)
            with counts.lock:
                counts.requests.append((self.command, self.path, self.headers.get("Range", "")))
                return len(counts.requests)

        def _file(self) -> Path | None:
            name = self.path.split("?", 1)[0].lstrip("/")
            if hub:  # /org/repo/resolve/<revision>/<path>
                prefix = f"{HUB_REPO}/resolve/"
                name = name[len(prefix):].split("/", 1)[-1] if name.startswith(prefix) else ""
            path = (folder / name).resolve()
            return path if name and path.is_file() and folder.resolve() in path.parents else None

        def _hub_api(self) -> bool:
            """The Hub's API, as much of it as HfFileSystem reads: repo info and tree listings."""
            route = self.path.split("?", 1)[0]
            base = f"/api/models/{HUB_REPO}"
            if route == base or route.startswith(base + "/revision/"):
                body = {"id": HUB_REPO, "sha": "a" * 40, "private": False}
            elif route.startswith(base + "/tree/"):
                inside = route[len(base + "/tree/"):].split("/", 1)[1:]  # after the revision
                root = folder / inside[0] if inside else folder
                recursive = "recursive=true" in self.path.lower()
                items = sorted(root.rglob("*") if recursive else root.iterdir())
                body = [{"type": "directory" if p.is_dir() else "file", "oid": "b" * 40,
                         "size": 0 if p.is_dir() else p.stat().st_size, "path": p.relative_to(folder).as_posix()}
                        for p in items]
            else:
                return False
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return True

        def _refuse(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _failing(self) -> bool:
            """Count the request; answer it with the configured failure, if any."""
            n = self._count()
            if behaviour.status or n <= behaviour.fail_first:
                self._refuse(behaviour.status or 503)
                return True
            return False

        def do_HEAD(self) -> None:
            if self._failing():
                return
            path = self._file()
            if path is None:
                return self._refuse(404)
            self.send_response(200)
            self.send_header("Content-Length", str(behaviour.declared or path.stat().st_size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def do_GET(self) -> None:
            if self._failing():
                return
            if behaviour.stall:
                release.wait(120)
                return
            if hub and self.path.startswith("/api/"):
                if not self._hub_api():
                    self._refuse(404)
                return
            path = self._file()
            if path is None:
                return self._refuse(404)
            actual = path.stat().st_size
            size = behaviour.declared or actual
            match = _RANGE.match(self.headers.get("Range", ""))
            if match is None or behaviour.ignore_range:
                status, start, body = 200, 0, path.read_bytes()
            else:
                first, last = match.groups()
                if first == "":
                    start, stop = max(0, size - int(last)), size
                else:
                    start, stop = int(first), min(size, int(last) + 1 if last else size)
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with path.open("rb") as f:  # what it has: less than it declared when it lies
                    f.seek(start)
                    body = f.read(max(0, min(stop, actual) - start))
                status = 206
                declared_length = len(body)
            self.send_response(status)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{start + declared_length - 1}/{size}")
                self.send_header("Content-Length", str(declared_length))
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if behaviour.cut_after is not None:
                body = body[:behaviour.cut_after]
                self.close_connection = True
            self.wfile.write(body)
            with counts.lock:
                counts.bytes_sent += len(body)

    return Handler


@contextlib.contextmanager
def serving(folder: Path, behaviour: Behaviour | None = None, hub: bool = False) -> Iterator[tuple[str, Counts]]:
    """(base URL, counts) of a server over `folder` for the duration of the block."""
    counts, release = Counts(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(folder, behaviour or Behaviour(), counts, release, hub))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counts
    finally:
        release.set()
        # shutdown() waits for serve_forever's loop, which a handler thread that never starts can wedge (seen once
        # in CI: Thread.start waiting forever under load): wait a bounded time, then close the socket regardless
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout=10)
        server.server_close()
