"""No input file, however mangled, produces a traceback: truncated and byte-flipped checkpoints."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocrdoctor.api import check_file
from ocrdoctor.checks.examples import SystemCall, tiny_state_dict
from ocrdoctor.registry import default

RULES = default.load().sorted_rules("checkpoint")


def _seed(fmt: str) -> bytes:
    import io

    buf = io.BytesIO()
    obj = {"model": tiny_state_dict(), "epoch": 3}
    torch.save(obj, buf, _use_new_zipfile_serialization=(fmt == "zip"))
    return buf.getvalue()


SEEDS = {fmt: _seed(fmt) for fmt in ("zip", "legacy")}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_bytes(tmp_path, data: bytes):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(data)
    result = check_file(path, RULES)
    assert not result.errors, result.errors  # no rule crashed on the facts
    for finding in result.findings:
        assert "\n" not in finding.message and "Traceback" not in finding.message
    assert path.read_bytes() == data  # never changed on disk
    return result


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@FUZZ
@given(data=st.data())
def test_truncated(tmp_path, fmt, data):
    seed = SEEDS[fmt]
    cut = data.draw(st.integers(min_value=0, max_value=len(seed) - 1))
    result = _check_bytes(tmp_path, seed[:cut])
    assert "OD100" in {f.rule for f in result.findings}


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@FUZZ
@given(data=st.data())
def test_byte_flipped(tmp_path, fmt, data):
    seed = bytearray(SEEDS[fmt])
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(seed) - 1))
        seed[pos] = data.draw(st.integers(0, 255))
    _check_bytes(tmp_path, bytes(seed))


@FUZZ
@given(blob=st.binary(max_size=2048))
def test_arbitrary_bytes(tmp_path, blob):
    _check_bytes(tmp_path, blob)


def test_flipped_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    import io

    buf = io.BytesIO()
    torch.save({"x": SystemCall(f"touch {marker}")}, buf)
    seed = bytearray(buf.getvalue())
    for pos in range(0, len(seed), max(1, len(seed) // 200)):
        mangled = bytearray(seed)
        mangled[pos] ^= 0xFF
        _check_bytes(tmp_path, bytes(mangled))
    assert not marker.exists()
