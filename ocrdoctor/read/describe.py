"""One line on what a file is when it is not a checkpoint torch can read."""

from __future__ import annotations

import re

from ..core.units import human_bytes

LFS_HEADER = b"version https://git-lfs.github.com/spec/v1"
_LFS_SIZE = re.compile(rb"^size (\d+)$", re.MULTILINE)


def is_lfs_pointer(head: bytes) -> bool:
    return head.startswith(LFS_HEADER)


# Files of other kinds that land where a checkpoint should be, by their magic numbers.
KNOWN_TYPES = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)


def known_type(head: bytes) -> str | None:
    """What kind of other file the first bytes say this is (an image, a PDF, a compressed file), or None."""
    return next((name for magic, name in KNOWN_TYPES if head.startswith(magic)), None)


def describe_content(head: bytes, size: int) -> str:
    """What the first bytes say the file is, for an OD100 message."""
    kind = known_type(head)
    if kind is not None:
        hint = ": decompress it first (torch.load does not)" if "compressed" in kind else ""
        return f"{kind}, not a checkpoint{hint}"
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


def denied(path) -> str:
    """'permission denied (mode 0700, owner alice; running as nobody)': what a user needs to ask for access."""
    import os

    try:
        info = os.stat(path)
    except OSError:
        return "permission denied"
    return (f"permission denied (mode {info.st_mode & 0o7777:04o}, owner {_user(info.st_uid)}; running as "
            f"{_user(os.geteuid())})")


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"
