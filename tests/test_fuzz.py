"""No input file, however mangled, produces a traceback or runs anything: truncated and byte-flipped
checkpoints of every layout, arbitrary bytes, and mangled payloads. Runs without torch."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocrdoctor.api import check_file
from ocrdoctor.core.registry import default
from tests import torchfile as tf
from tests.payloads import PAYLOADS

RULES = default.load().sorted_rules("checkpoint")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WRITERS = {"zip": tf.save_zip, "legacy": tf.save_legacy, "tar": tf.save_tar, "safetensors": tf.save_safetensors}


def _seed(fmt: str, tmp_path_factory) -> bytes:
    arrays = tf.trained({"conv.weight": (4, 3, 3, 3), "conv.bias": (4,), "bn.num_batches_tracked": ()})
    obj = arrays if fmt in ("tar", "safetensors") else {"model": arrays, "epoch": 3}
    path = WRITERS[fmt](tmp_path_factory.mktemp("seed") / f"seed.{fmt}", obj)
    return path.read_bytes()


@pytest.fixture(scope="module", params=sorted(WRITERS))
def seed(request, tmp_path_factory):
    return request.param, _seed(request.param, tmp_path_factory)


def _check_bytes(tmp_path, data: bytes):
    path = tmp_path / "fuzz.pt"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's floating-point warnings are noise to a user
        result = check_file(path, RULES)
    assert not result.errors, result.errors  # no rule crashed on the facts
    for finding in result.findings:
        assert "\n" not in finding.message and "Traceback" not in finding.message
    assert path.read_bytes() == data  # never changed on disk
    return result


@FUZZ
@given(data=st.data())
def test_truncated(seed, tmp_path, data):
    fmt, original = seed
    cut = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    result = _check_bytes(tmp_path, original[:cut])
    if fmt != "tar":  # a tar cut inside its padding still holds every member whole
        assert "OD100" in {f.rule for f in result.findings}


@FUZZ
@given(data=st.data())
def test_byte_flipped(seed, tmp_path, data):
    _, original = seed
    mangled = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        mangled[data.draw(st.integers(0, len(mangled) - 1))] = data.draw(st.integers(0, 255))
    _check_bytes(tmp_path, bytes(mangled))


@FUZZ
@given(blob=st.binary(max_size=2048))
def test_arbitrary_bytes(tmp_path, blob):
    _check_bytes(tmp_path, blob)


@pytest.mark.parametrize("payload", [p for p in PAYLOADS if p.name in {"torch-zip", "legacy-object", "tar-pickle",
                                                                     "os-system-protocol-0", "frame-straddle"}],
                                                                     ids=repr)
def test_flipped_payloads_never_run(payload, tmp_path):
    marker = tmp_path / "pwned"
    original = payload.build(marker)
    for pos in range(0, len(original), max(1, len(original) // 150)):
        mangled = bytearray(original)
        mangled[pos] ^= 0xFF
        _check_bytes(tmp_path, bytes(mangled))
    assert not marker.exists()
