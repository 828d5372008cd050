"""One line on what a file is when it is not a checkpoint torch can read."""

from __future__ import annotations

import re

from ..core.units import human_bytes

LFS_HEADER = b"version https://git-lfs.github.com/spec/v1"
_LFS_SIZE = re.compile(rb"^size (\d+)$", re.MULTILINE)


def is_lfs_pointer(head: bytes) -> bool:
    return head.startswith(LFS_HEADER)


def describe_content(head: bytes, size: int) -> str:
    """What the first bytes say the file is, for an OD100 message."""
    if is_lfs_pointer(head):
        found = _LFS_SIZE.search(head)
        real = f" of {human_bytes(int(found.group(1)))}" if found else ""
        return (f"a Git LFS pointer ({size} bytes), not the checkpoint{real} it stands for: "
                "the file was never downloaded")
    end = head.find(b"PK\x05\x06")
    if head.find(b"PK\x03\x04") > 0 or end > 0:
        return ("a zip archive with bytes before it: torch.load reads such a file as a pickle, "
                "and these bytes are none")
    text = _as_text(head)
    if text is not None:
        lowered = text.lstrip().lower()
        if lowered.startswith(("<!doctype html", "<html")):
            return "an HTML page, not a checkpoint (a download that saved an error or login page?)"
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"a text file, not a checkpoint (starts with {first!r})"
    return f"not a checkpoint: unrecognised content (starts with 0x{head[:8].hex()})"


def _as_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # cut inside a multi-byte character
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return text if all(c.isprintable() or c.isspace() for c in text) else None
