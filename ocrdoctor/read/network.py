"""The network under read/remote.py's byte source: each protocol's own fsspec filesystem, requests bounded
by a timeout, retried with backoff where the failure may pass, counted, and listings of folders and prefixes.

Errors are RemoteError with a status code and a text scrubbed of the URL's secrets: a target that
cannot be read is a run error for that target, never a finding (a flaky network is not a bad model).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .remote import READ_AHEAD, RemoteBytes, RemoteError, Transfer, Url, redact, scrub

TRIES = 3  # attempts per request (the first and two retries)
BACKOFF = 0.25  # seconds before the first retry, doubled each time
TIMEOUT = 30.0  # seconds one request may take (`--timeout`)
_PERMANENT = {400, 401, 403, 404, 405, 410, 416}


# --- filesystems --------------------------------------------------------------------------------

def filesystem(url: str, timeout: float = TIMEOUT):
    """(filesystem, path) for a URL: the protocol's own fsspec filesystem, each request bounded by `timeout`
    and retried by us (not by the filesystem), credentials from its standard configuration."""
    import fsspec

    protocol = fsspec.core.split_protocol(url)[0] or "file"
    options: dict[str, Any] = {}
    if protocol in ("http", "https"):
        import aiohttp

        options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=timeout), "trace_configs": [_counting()]}
    elif protocol in ("s3", "s3a"):
        options["config_kwargs"] = {"connect_timeout": timeout, "read_timeout": timeout,
                                    "retries": {"max_attempts": 1}}
    try:
        return fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:  # the protocol's filesystem is not installed (s3fs, gcsfs, ...)
        raise RemoteError(f"no filesystem for {protocol}:// is installed ({exc}): "
                          "pip install 'ocrdoctor[remote]'") from None
    except ValueError as exc:
        raise RemoteError(f"{protocol}:// is not a protocol fsspec knows ({exc})") from None


_TRACE = None


def _counting():
    """An aiohttp trace that counts every request a target's calls send (HEAD, a GET fsspec falls back to,
    each redirect) on the Transfer passed as `trace_request_ctx`."""
    global _TRACE
    if _TRACE is None:
        import aiohttp

        async def sent(session, context, params) -> None:
            transfer = context.trace_request_ctx
            if isinstance(transfer, Transfer):
                transfer.add(1, 0)

        _TRACE = aiohttp.TraceConfig()
        _TRACE.on_request_start.append(sent)
        _TRACE.on_request_redirect.append(sent)
    return _TRACE


def counted(fs, transfer: Transfer) -> dict[str, Any]:
    """The keywords that make `fs`'s requests count on `transfer` (HTTP); other filesystems are counted per call."""
    if "http" in _protocols(fs):
        transfer.exact = True
        return {"trace_request_ctx": transfer}
    return {}


def tries_for(fs) -> int:
    """Attempts per call: huggingface_hub's filesystem retries with its own backoff (HF_HUB_DOWNLOAD_TIMEOUT
    bounds each of its requests), so its calls are not retried again here."""
    return 1 if "hf" in _protocols(fs) else TRIES


def _protocols(fs) -> tuple[str, ...]:
    return tuple(fs.protocol) if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)


def retried(call: Callable[[], Any], url: str, transfer: Transfer | None = None, what: str = "read",
            tries: int = TRIES) -> Any:
    """`call()` with retries for failures that may pass; every attempt is counted as a request."""
    for attempt in range(tries):
        try:
            result = call()
        except Exception as exc:
            if transfer is not None:
                transfer.attempt()
            status, cause = status_of(exc), _root(exc)
            if not (timed_out(exc) or transient(cause, status)) or attempt == tries - 1:
                note = f" ({attempt + 1} tries)" if attempt else ""
                raise RemoteError(f"cannot {what} {redact(url)}: {describe(exc, status, url)}{note}", status) from None
            time.sleep(BACKOFF * 2 ** attempt)
            continue
        if transfer is not None:
            transfer.attempt(len(result) if isinstance(result, (bytes, bytearray)) else 0)
        return result
    raise AssertionError("unreachable")


def status_of(exc: BaseException) -> int | None:
    """The HTTP status a filesystem's exception carries (aiohttp, botocore, requests), found through the
    exceptions it wraps (fsspec turns a failed HEAD into FileNotFoundError), else the one it stands for."""
    for link in _chain(exc):
        status = _status(link)
        if status is not None:
            return status
    if _root(exc) is not exc:  # fsspec's FileNotFoundError around a refused connection is not a 404
        return None
    return 404 if isinstance(exc, FileNotFoundError) else 403 if isinstance(exc, PermissionError) else None


def _status(exc: BaseException) -> int | None:
    value = getattr(exc, "status", None)  # aiohttp's ClientResponseError
    if isinstance(value, int) and 100 <= value < 600:
        return value
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore's ClientError
        value = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return value if isinstance(value, int) else None
    value = getattr(response, "status_code", None)  # requests / httpx (huggingface_hub)
    return value if isinstance(value, int) else None


def _root(exc: BaseException) -> BaseException:
    """The innermost exception a filesystem's error wraps: what actually went wrong."""
    return _chain(exc)[-1]


def transient(exc: BaseException, status: int | None) -> bool:
    if isinstance(exc, RemoteError):
        return False
    if status is not None:
        return status not in _PERMANENT and (status >= 500 or status in (408, 425, 429))
    return not isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError,
                                ValueError, TypeError, NotImplementedError))


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it wraps, outermost first (at most 20: a cycle cannot loop)."""
    out = [exc]
    while (out[-1].__cause__ or out[-1].__context__) is not None and len(out) < 20:
        out.append(out[-1].__cause__ or out[-1].__context__)
    return out


def timed_out(exc: BaseException) -> bool:
    return any(isinstance(e, TimeoutError) or type(e).__name__ in _TIMEOUTS for e in _chain(exc))


_TIMEOUTS = ("FSTimeoutError", "ReadTimeoutError", "ConnectTimeoutError", "ServerTimeoutError", "ReadTimeout",
             "ConnectTimeout")


def describe(exc: BaseException, status: int | None, url: str) -> str:
    """What went wrong, in words, from the whole chain of exceptions a filesystem raised."""
    if timed_out(exc):
        return "timed out"
    exc = _root(exc)
    if status == 404:
        return "not found (HTTP 404)"
    if status in (401, 403):
        return f"access denied (HTTP {status}): check the filesystem's credentials"
    if "support range requests" in str(exc):
        return "the server ignores range requests (it sends the whole file for a part of it)"
    if type(exc).__name__ in ("ClientPayloadError", "ContentLengthError", "ServerDisconnectedError"):
        return "the server closed the connection before the response was complete"
    from ..core.registry import one_line

    text = scrub(one_line(exc), url)
    return f"HTTP {status}: {text}" if status is not None and str(status) not in text else text


def open_remote(target: Url, timeout: float = TIMEOUT, read_ahead: int = READ_AHEAD) -> RemoteBytes:
    """The target as a byte source: its size known (from the listing, or one request), nothing else read yet."""
    transfer = Transfer(requests=target.requests)
    if target.error is not None:
        raise target.error
    fs, path = filesystem(target.url, timeout)
    extra = counted(fs, transfer)
    size = target.size
    if size is None:
        info = retried(lambda: fs.info(path, **extra), target.url, transfer, "reach", tries_for(fs))
        if info.get("type") == "directory":
            raise RemoteError(f"{redact(target.url)} is a folder: give it with a trailing '/' to check what it holds")
        size = info.get("size")
    if not isinstance(size, int) or size < 0:
        raise RemoteError(f"{redact(target.url)}: the server does not say how large the file is, so it cannot be "
                          "read in ranges")
    handle = retried(lambda: fs.open(path, "rb", block_size=READ_AHEAD, cache_type="none", size=size, **extra),
                     target.url, None, "open", tries_for(fs))  # the Hub resolves a file when it is opened

    def fetch(start: int, stop: int) -> bytes:
        def one() -> bytes:
            handle.seek(start)
            return handle.read(stop - start)

        return retried(one, target.url, transfer, tries=tries_for(fs))

    return RemoteBytes(fetch, size, transfer, read_ahead)


# --- listings -----------------------------------------------------------------------------------

def listing(url: str, timeout: float | None = None) -> tuple[Url | None, list[tuple[Url, str]]]:
    """What a URL names: (the file itself, []) or, for a folder or prefix (`s3://bucket/models/`, `hf://org/repo`),
    (None, every file under it with its path relative to the URL, sorted). A URL that cannot be reached is
    returned as a file that fails when it is read (a run error), so a run goes on with the others."""
    timeout = TIMEOUT if timeout is None else timeout
    transfer = Transfer()
    try:
        fs, path = filesystem(url, timeout)
        extra = counted(fs, transfer)
        info = retried(lambda: fs.info(path, **extra), url, transfer, "reach", tries_for(fs))
    except RemoteError as exc:
        return Url(url, error=exc, requests=transfer.requests), []
    if info.get("type") != "directory":
        return Url(url, size=info.get("size"), requests=transfer.requests), []
    try:
        found = retried(lambda: fs.find(path, detail=True), url, None, "list", tries_for(fs))
    except RemoteError as exc:
        return Url(url, error=exc), []
    base = path.rstrip("/") + "/"
    files = []
    for name, meta in sorted(found.items()):
        if meta.get("type") != "directory":
            rel = name[len(base):] if name.startswith(base) else name.rsplit("/", 1)[-1]
            files.append((Url(fs.unstrip_protocol(name), size=meta.get("size")), rel))
    return None, files


def head(target: Url, timeout: float | None = None, size: int = 4096) -> tuple[bytes, int]:
    """The first bytes of a remote file (one small request), and the requests they cost."""
    source = open_remote(target, TIMEOUT if timeout is None else timeout, read_ahead=0)
    return source[:size], source.transfer.requests
