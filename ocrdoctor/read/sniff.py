"""Is this file a checkpoint? Decided by its first bytes, never by its name.

A folder check sniffs every regular file, so `best.pth.tar`, `checkpoint.pkl`, `model.th` and
`weights.pt.1` are checked, and `config.json`, `vocab.txt` or a README are not. A Git LFS pointer
is checked (it is a checkpoint that was never downloaded: OD100 says so), and a file with a
checkpoint suffix is always checked, whatever it holds, so a damaged `.pt` still gets OD100.
"""

from __future__ import annotations

import pickletools
import struct
from pathlib import Path

from .archive import LOCAL_MAGIC
from .describe import is_lfs_pointer

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".pkl", ".pickle", ".tar", ".th")
_HEAD = 4096
_MIN_OPCODES = 8  # a text prefix that decodes this far as pickle opcodes is a protocol 0/1 pickle


def sniff(path: Path) -> str | None:
    """"checkpoint", "onnx", or None with the file plainly something else. Raises OSError when unreadable."""
    if path.suffix.lower() == ".onnx":
        return "onnx"
    with path.open("rb") as f:
        head = f.read(_HEAD)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES or is_checkpoint_content(head):
        return "checkpoint"
    return None


def is_checkpoint_content(head: bytes) -> bool:
    return (head.startswith(LOCAL_MAGIC)
            or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)
            or is_lfs_pointer(head)
            or head[257:262] == b"ustar"
            or _safetensors_header(head)
            or _text_pickle(head))


def _safetensors_header(head: bytes) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head)
    return 2 <= n <= 100_000_000 and head[8:9] == b"{"


def _text_pickle(head: bytes) -> bool:
    """Protocol 0 and 1 pickles: opcodes all the way to STOP, or to the end of the sniffed prefix."""
    ops, position = 0, 0
    try:
        for op, _arg, position in pickletools.genops(head):  # noqa: B007  (read after the loop, on failure)
            ops += 1
            if op.name == "STOP":
                return True
    except Exception:  # unknown opcode (not a pickle) or the prefix ends mid-opcode (a long pickle)
        return ops >= _MIN_OPCODES and len(head) == _HEAD and position >= _HEAD - 256
    return False
