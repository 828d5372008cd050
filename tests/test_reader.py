"""The torch-free reader on files written without torch: every layout, the ways torch finds a
pickle, values read from the bytes, and damage reported in one line. Runs without torch."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ocrdoctor.api import check_path
from ocrdoctor.inspect.checkpoint import inspect_checkpoint
from ocrdoctor.read.checkpoint import read_checkpoint
from tests import torchfile as tf
from tests.conftest import codes, run_process

SD = {
    "conv.weight": np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 2, 2),
    "conv.bias": np.array([0.25, -0.5], dtype=np.float32),
    "bn.running_var": np.full(2, 0.75, dtype=np.float32),
    "bn.num_batches_tracked": np.array(1000, dtype=np.int64),
}


@pytest.fixture(params=["zip", "legacy", "tar"])
def layout(request, tmp_path):
    writer = {"zip": tf.save_zip, "legacy": tf.save_legacy, "tar": tf.save_tar}[request.param]
    return request.param, writer(tmp_path / f"model.{request.param}", SD)


def test_each_layout_reads_the_same_facts(layout):
    fmt, path = layout
    facts = inspect_checkpoint(path)
    assert (facts.format, facts.problem, facts.unsafe_globals) == (fmt, None, ())
    by_name = {t.name: t for t in facts.weights}
    assert list(by_name) == list(SD)
    for name, array in SD.items():
        t = by_name[name]
        assert (t.shape, t.dtype, t.device, t.nbytes) == (array.shape, str(array.dtype), "cpu", array.nbytes)
        assert t.minimum == pytest.approx(float(array.min())) and t.maximum == pytest.approx(float(array.max()))
        assert t.mean == pytest.approx(float(array.mean()))
    assert by_name["bn.running_var"].constant == 0.75 and by_name["bn.num_batches_tracked"].constant == 1000
    assert by_name["conv.weight"].constant is None


@pytest.mark.parametrize("encoding", ["protocol 2 LONG1", "protocol 0 LONG", "protocol 0 INT", "LONG4",
                                      "protocol 4 framed"])
def test_every_encoding_of_the_legacy_magic(encoding, tmp_path):
    magic = tf.LEGACY_MAGIC
    data = {
        "protocol 2 LONG1": pickle.dumps(magic, protocol=2),
        "protocol 0 LONG": pickle.dumps(magic, protocol=0),
        "protocol 0 INT": b"I" + str(magic).encode() + b"\n.",
        "LONG4": b"\x80\x02\x8b" + struct.pack("<i", 10) + magic.to_bytes(10, "little") + b".",
        "protocol 4 framed": pickle.dumps(magic, protocol=4),
    }[encoding]
    facts = inspect_checkpoint(tf.save_legacy(tmp_path / "m.pt", SD, magic=data))
    assert facts.format == "legacy" and facts.problem is None and len(facts.weights) == len(SD)


@pytest.mark.parametrize("protocol", [0, 1])
def test_text_pickles_are_pickles_whatever_their_name(protocol, tmp_path):
    path = tmp_path / "weights.safetensors"  # the name says safetensors; the bytes say pickle
    path.write_bytes(pickle.dumps({"epoch": 3, "lr": [0.1, 0.01]}, protocol=protocol))
    facts = inspect_checkpoint(path)
    assert facts.format == "pickle" and "plain pickle" in facts.problem


def _zip(path, members, first="archive/version"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(first, "3\n")
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_data_pkl_is_found_as_miniz_finds_it_ignoring_case(tmp_path):
    good = tf.save_zip(tmp_path / "good.pt", {"w": np.ones(3, dtype=np.float32) * 0.5})
    with zipfile.ZipFile(good) as src:
        members = {n.replace("data.pkl", "DATA.PKL"): src.read(n) for n in src.namelist() if not n.endswith("version")}
    facts = inspect_checkpoint(_zip(tmp_path / "upper.pt", members))
    assert facts.problem is None and [t.name for t in facts.weights] == ["w"]


def test_a_wrong_crc_is_ignored_as_torch_ignores_it(tmp_path):
    path = tf.save_zip(tmp_path / "m.pt", SD)
    data = path.read_bytes()
    pkl = zipfile.ZipFile(path).read("archive/data.pkl")
    crc = zipfile.crc32(pkl).to_bytes(4, "little")
    path.write_bytes(data.replace(crc, bytes(b ^ 0xFF for b in crc)))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(path).read("archive/data.pkl")  # what Python's zipfile (and scanners using it) do
    facts = inspect_checkpoint(path)
    assert facts.problem is None and len(facts.weights) == len(SD)


def test_a_deflated_pickle_is_inflated(tmp_path):
    src = tf.save_zip(tmp_path / "m.pt", SD)
    out = tmp_path / "deflated.pt"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out, "w") as b:
        for info in a.infolist():
            b.writestr(info.filename, a.read(info), compress_type=zipfile.ZIP_DEFLATED)
    facts = inspect_checkpoint(out)
    assert facts.problem is None and [t.mean for t in facts.weights] == [t.mean
                                                                         for t in inspect_checkpoint(src).weights]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda data: b"junk!" * 20 + data, "a zip archive with bytes before it"),
    (lambda data: data[: len(data) // 2], "truncated or corrupt zip archive"),
    (lambda data: data.replace(b"archive/data.pkl", b"archive/data.pkX"), "without torch's data.pkl"),
])
def test_damaged_archives_are_one_line_problems(damage, message, tmp_path):
    path = tf.save_zip(tmp_path / "m.pt", SD)
    path.write_bytes(damage(path.read_bytes()))
    result = check_path(path)
    [finding] = [f for f in result.findings if f.rule == "OD100"]
    assert message in finding.message and "\n" not in finding.message
    assert codes(result) == ["OD100"]


def test_a_storage_shorter_than_its_tensors_is_one_line_od100(tmp_path):
    """Found by the byte-flip fuzzer: a data member cut short shows only when its values are read."""
    src = tf.save_zip(tmp_path / "m.pt", SD)
    out = tmp_path / "short.pt"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out, "w") as b:
        for info in a.infolist():
            data = a.read(info)
            b.writestr(info.filename, data[:8] if info.filename.endswith("/data/0") else data)
    result = check_path(out)
    assert codes(result) == ["OD100"] and not result.check_errors
    assert "storage 0 holds 8 bytes where the pickle needs 96" in result.findings[0].message


def test_a_storage_whose_local_header_is_gone_is_one_line_od100(tmp_path):
    """Found by the byte-flip fuzzer: the central directory points a data member at bytes that are no header."""
    path = tf.save_zip(tmp_path / "m.pt", SD)
    raw = bytearray(path.read_bytes())
    name = next(n for n in zipfile.ZipFile(path).namelist() if n.endswith("/data/0")).encode()
    entry = raw.index(b"PK\x01\x02")  # the first central directory entry
    while raw[entry + 46:entry + 46 + len(name)] != name:
        entry = raw.index(b"PK\x01\x02", entry + 4)
    raw[entry + 42:entry + 46] = (1).to_bytes(4, "little")  # its local header offset, now inside the first member
    path.write_bytes(bytes(raw))
    result = check_path(path)
    assert codes(result) == ["OD100"] and not result.check_errors
    assert "no local header for" in result.findings[0].message


def test_a_signalling_nan_is_counted_without_a_numpy_warning(tmp_path):
    """numpy 1.x warns "invalid value encountered in cast" when a signalling NaN becomes float64."""
    import warnings

    weights = np.array([0x7FA00000, 0x3F800000, 0x40000000, 0x40400000], dtype=np.uint32).view(np.float32)
    path = tf.save_zip(tmp_path / "snan.pt", {"conv.weight": weights.reshape(2, 2), "conv.bias": weights[1:3].copy()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = check_path(path)
    assert "OD109" in codes(result) and "1 NaN" in next(f.message for f in result.findings if f.rule == "OD109")


def test_a_torch_export_archive_before_torch_2_6_is_od121(tmp_path):
    """torch.export.save up to torch 2.5 wrote a flat archive, without torch.save's folder."""
    path = tmp_path / "model.pt2"
    with zipfile.ZipFile(path, "w") as z:
        for name in ("serialized_exported_program.json", "serialized_state_dict.pt", "version"):
            z.writestr(name, b"{}")
    assert codes(check_path(path)) == ["OD121"]


def test_a_member_outside_the_archive_folder_makes_torch_refuse(tmp_path):
    path = tf.save_zip(tmp_path / "m.pt", SD, members={"elsewhere/notes.txt": b"hi"})
    assert "outside the archive's folder" in inspect_checkpoint(path).problem


def test_a_missing_storage_has_no_data(tmp_path):
    path = tf.save_zip(tmp_path / "m.pt", SD)
    data = path.read_bytes().replace(b"archive/data/1", b"archive/data/X")
    path.write_bytes(data)
    facts = inspect_checkpoint(path)
    missing = [t.name for t in facts.weights if not t.has_data]
    assert missing == ["conv.bias"]


def test_safetensors_with_metadata_and_damage(tmp_path):
    path = tf.save_safetensors(tmp_path / "m.safetensors", {k: v for k, v in SD.items()}, {"vocab": "abc"})
    facts = inspect_checkpoint(path)
    assert facts.format == "safetensors" and facts.metadata == {"vocab": "abc"}
    assert {t.name: t.constant for t in facts.weights}["bn.running_var"] == 0.75
    path.write_bytes(path.read_bytes()[:-10])
    assert "corrupt safetensors file" in inspect_checkpoint(path).problem


def test_values_of_every_dtype_and_view(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((4, 6)).astype(np.float32)
    arrays = {
        "f16": tf.Array(base.astype(np.float16)),
        "f64": tf.Array(base.astype(np.float64)),
        "bf16": tf.Array(base, dtype="bfloat16"),
        "i32": tf.Array(np.arange(5, dtype=np.int32)),
        "mask": tf.Array(np.array([True, False, True])),
        "transposed": tf.Array(base.T),  # a non-contiguous view: strides (1, 6)
        "nan": tf.Array(np.array([1.0, np.nan, np.inf, -np.inf, 2.0], dtype=np.float32)),
    }
    facts = inspect_checkpoint(tf.save_zip(tmp_path / "m.pt", arrays))
    got = {t.name: t for t in facts.weights}
    assert got["f16"].dtype == "float16" and got["f16"].mean == pytest.approx(float(base.astype(np.float16).mean()),
                                                                              1e-3)
    assert got["bf16"].dtype == "bfloat16" and got["bf16"].mean == pytest.approx(float(base.mean()), abs=2e-2)
    assert got["i32"].maximum == 4 and got["mask"].mean == pytest.approx(2 / 3)
    assert got["transposed"].shape == (6, 4) and got["transposed"].mean == pytest.approx(float(base.mean()), 1e-6)
    assert (got["nan"].nonfinite, got["nan"].minimum, got["nan"].maximum) == (3, 1.0, 2.0)


def test_an_unsafe_call_before_a_parse_error_is_still_reported(tmp_path):
    body = tf.call(tf.global_("os", "system"), tf.text("true"))
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x02" + body + b"\xff garbage")
    result = check_path(path)
    od101 = next(f for f in result.findings if f.rule == "OD101")
    assert "os.system (called)" in od101.message and "then the pickle fails to parse" in od101.message
    assert codes(result) == ["OD100", "OD101"]


def test_a_memo_bomb_is_refused_within_the_memory_cap(tmp_path):
    """LONG_BINPUT 2**30 makes the C unpickler clear a 16 GiB memo; the CLI caps its heap first."""
    path = tmp_path / "bomb.pt"
    path.write_bytes(b"\x80\x02N" + b"r" + struct.pack("<I", 1 << 30) + b".")
    proc = run_process("check", path, timeout=60)
    assert proc.returncode == 1 and "more memory than a checkpoint could need" in proc.stdout


def test_a_git_lfs_pointer_says_so(tmp_path):
    path = tmp_path / "det.pt"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 16959335\n")
    [finding] = check_path(path).findings
    assert finding.rule == "OD100" and "Git LFS pointer" in finding.message and "16.2 MiB" in finding.message


_AS_NOBODY = """
import os, sys
from ocrdoctor.cli import main
from ocrdoctor.api import check_path
from ocrdoctor.render import render
import importlib, pkgutil, tomllib, warnings, ocrdoctor  # noqa: E401
render(check_path(sys.argv[1]), "text")  # import everything while still root: the interpreter and the
with warnings.catch_warnings():          # checkout may sit in folders the unprivileged user cannot enter,
    warnings.simplefilter("ignore")      # so every lazy import of a run happens here (old paths warn)
    for module in pkgutil.walk_packages(ocrdoctor.__path__, "ocrdoctor."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
os.setgid(65534)
os.setuid(65534)
sys.argv = ["ocrdoctor", "check", sys.argv[2]]
main()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to an unprivileged user: needs root")
def test_permission_denied_with_the_real_size(tmp_path):
    import tempfile

    folder = tempfile.mkdtemp(dir="/tmp")  # pytest's tmp_path is closed to other users
    try:
        os.chmod(folder, 0o755)
        path = tf.save_zip(Path(folder) / "m.pt", SD)
        path.chmod(0o600)
        proc = subprocess.run([sys.executable, "-c", _AS_NOBODY, str(tf.save_zip(tmp_path / "ok.pt", SD)), str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        size = path.stat().st_size
        assert (f"cannot open: permission denied (mode 0600, owner root; running as nobody) (the file is "
                f"{size / 1024:.1f} KiB)") in proc.stdout
    finally:
        import shutil

        shutil.rmtree(folder)


def test_the_reader_keeps_the_file_mapped_only_while_open(tmp_path):
    path = tf.save_zip(tmp_path / "m.pt", SD)
    with read_checkpoint(path) as ckpt:
        assert ckpt.buffer is not None
        values = ckpt.array(ckpt.root["conv.weight"])
        assert np.array_equal(values, SD["conv.weight"])
    assert ckpt.buffer is None
