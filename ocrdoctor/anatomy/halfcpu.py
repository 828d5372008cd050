"""What half precision costs on a CPU, from measured rows (data/half_cpu.json, written by bench/bench_half_cpu.py).

Each row: the machine, the CPU flags that matter, torch's release, the median page time of the
shipped pair in float16 and bfloat16 as a ratio of float32's, and the command that measured it. OD205
reads it: float16 is judged by AVX512-FP16 / AMX-FP16 and the torch release measured fast with them,
bfloat16 by AVX512-BF16 / AMX-BF16; the slowdown it quotes is the row of a CPU like the one at hand.
"""

from __future__ import annotations

import json
import os
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

DATA = Path(__file__).resolve().parent.parent / "data" / "half_cpu.json"
NATIVE = {"float16": ("avx512_fp16", "amx_fp16"), "bfloat16": ("avx512_bf16", "amx_bf16")}
FAST_ENOUGH = 2.0  # a ratio at or under this is no reason to refuse half precision


class Measured(NamedTuple):
    machine: str
    flags: frozenset[str]
    torch: tuple[int, ...]
    ratio: dict[str, float]
    command: str

    def native(self, dtype: str) -> bool:
        return bool(set(NATIVE[dtype]) & self.flags)

    def cite(self, dtype: str) -> str:
        release = ".".join(map(str, self.torch))
        return f"{self.ratio[dtype]:g}x float32's time per page on {self.machine}, torch {release} ({self.command})"


@cache
def rows() -> tuple[Measured, ...]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return tuple(Measured(r["machine"], frozenset(r["flags"]), _release(r["torch"]), dict(r["ratio"]), r["command"])
                 for r in data["rows"])


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("+")[0].split(".")[:3] if p.isdigit())


def fast_from(dtype: str) -> tuple[int, ...] | None:
    """The oldest torch release measured fast in `dtype` on a CPU with native support for it, or None."""
    found = [r.torch for r in rows() if r.native(dtype) and r.ratio.get(dtype, FAST_ENOUGH + 1) <= FAST_ENOUGH]
    return min(found) if found else None


def slow(dtype: str, native: bool | None, torch: tuple[int, ...]) -> str | None:
    """Why `dtype` is slow on this CPU, citing the measurement, or None when it is not (or cannot be told)."""
    if native is None:
        return None
    since = fast_from(dtype)
    if native and (since is None or torch >= since):  # native support, and no measurement says it was slow
        return None
    like = [r for r in rows() if r.native(dtype) == native and dtype in r.ratio]
    measured = max(like, key=lambda r: r.ratio[dtype]) if like else None
    cpu = f"a CPU with {'/'.join(NATIVE[dtype])} but torch older than the measured one" if native else (
        f"a CPU without {' or '.join(NATIVE[dtype])}")
    return f"{cpu}: measured {measured.cite(dtype)}" if measured else cpu


FLAGS_VARIABLE = "OCRDOCTOR_CPU_FLAGS"  # the serving host's flags, when it is not the machine that checks


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str] | None:
    """The CPU's flags: $OCRDOCTOR_CPU_FLAGS when set (judge half precision for the CPU the model will be
    served on, e.g. "avx2" from a CI runner with avx512_fp16), else /proc/cpuinfo's; None where unreadable."""
    override = os.environ.get(FLAGS_VARIABLE)
    if override is not None:
        return frozenset(override.replace(",", " ").split())
    return _read_flags(cpuinfo)


@lru_cache(maxsize=4)
def _read_flags(cpuinfo: str) -> frozenset[str] | None:
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), None)
    except OSError:
        return None
    return None if flags is None else frozenset(flags)


def native(dtype: str, cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU computes `dtype` natively; None where its flags cannot be read."""
    flags = cpu_flags(cpuinfo)
    return None if flags is None else bool(set(NATIVE[dtype]) & flags)


def torch_release() -> tuple[int, ...]:
    """The installed torch's release ((): torch is not installed)."""
    try:
        from importlib.metadata import version

        return _release(version("torch"))
    except Exception:  # noqa: BLE001 - no torch, or broken metadata: no release to compare
        return ()


def on_this_cpu(dtype: str) -> str | None:
    """What OD205 would say of a model in `dtype` on this machine's CPU (None: nothing)."""
    if dtype not in NATIVE:
        return None
    why = slow(dtype, native(dtype), torch_release())
    return f"OD205 would be raised on this CPU: {dtype} here runs on {why}" if why else None
