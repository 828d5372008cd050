"""Harmless means inert: OD120 programs never run a payload, real libraries' objects stay OD120,
and the reader reads every layout with the stream, directory and links torch uses."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from ocrdoctor.api import check_path
from ocrdoctor.read import allowlist
from tests.payloads import PAYLOADS
from tests.payloads_gadgets import GADGETS, frame_divergent

CORPUS = PAYLOADS + GADGETS


def _run_program(program: str, path, cwd, timeout: int = 120) -> subprocess.CompletedProcess:
    """A printed fix, pasted after `path = ...` into a fresh interpreter, in its own folder."""
    script = f"path = {str(path)!r}\n" + program + "\nprint('LOADED', type(ckpt).__name__)\n"
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("payload", CORPUS, ids=repr)
def test_no_payload_gets_a_safe_globals_program(payload, tmp_path):
    """No file of the corpus gets OD120 (its program would allow what the payload needs); any program printed
    for it is executed in its own folder, and the payload's marker proves nothing ran."""
    marker = tmp_path / f"ran-{payload.name}"
    path = tmp_path / f"{payload.name}{payload.suffix}"
    path.write_bytes(payload.build(marker))
    report = check_path(path)
    programs = [f.fix for f in report.findings if f.rule == "OD120" and f.applicability and f.fix]
    assert not [f for f in report.findings if f.rule == "OD120"]
    if programs:  # never expected; run them all the same, so a regression shows as a payload that ran
        pytest.importorskip("torch")
        work = tmp_path / "work"
        work.mkdir()
        for program in programs:
            _run_program(program, path, work)
    assert not marker.exists()


def _saved(tmp_path, name: str, obj) -> object:
    torch = pytest.importorskip("torch")
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _controls():
    import argparse
    import pathlib
    from collections import defaultdict

    import numpy as np

    def weights():
        torch = pytest.importorskip("torch")
        return {"w": torch.linspace(-1, 1, 12).reshape(3, 4)}

    def lightning():
        parsing = pytest.importorskip("pytorch_lightning.utilities.parsing")
        return {"state_dict": weights(), "hyper_parameters": parsing.AttributeDict(lr=1e-3, arch="crnn", sizes=[32,
                                                                                                                128])}

    def omegaconf():
        conf = pytest.importorskip("omegaconf")
        return {"model": weights(), "cfg": conf.OmegaConf.create({"lr": 0.001, "warm": "${lr}", "dims": [1, 2]})}

    return {
        "numpy-generator": lambda: {"model": weights(), "rng": np.random.default_rng(7)},
        "numpy-randomstate": lambda: {"model": weights(), "rng": np.random.RandomState(7)},
        "numpy-bit-generator": lambda: {"model": weights(), "bits": np.random.PCG64(3)},
        "numpy-seed-sequence": lambda: {"model": weights(), "seed": np.random.SeedSequence(11)},
        "numpy-values": lambda: {"model": weights(), "best": np.float64(0.93), "curve": np.arange(4.0)},
        "namespace-path-defaultdict": lambda: {"model": weights(), "args": argparse.Namespace(lr=1e-3,
                                                                                              out=pathlib.Path("r")),
                                               "hist": defaultdict(list, {"loss": [0.5]})},
        "lightning-attributedict": lightning,
        "omegaconf-interpolation": omegaconf,
    }


@pytest.mark.slow
@pytest.mark.parametrize("label", list(_controls()))
def test_real_libraries_objects_are_od120_and_its_program_loads_them(label, tmp_path):
    """Benign controls from the real libraries: never OD101; OD120's program, run as printed, loads the file."""
    path = _saved(tmp_path, f"{label}.pt", _controls()[label]())
    report = check_path(path)
    rules = {f.rule for f in report.findings}
    assert "OD101" not in rules, [f.message for f in report.findings]
    od120 = [f for f in report.findings if f.rule == "OD120"]
    assert od120
    if od120[0].applicability is None:  # no safe_globals list can load it: the fix command, not a program
        assert "cannot fill" in od120[0].message and od120[0].command.startswith("ocrdoctor fix")
        result = subprocess.run([sys.executable, "-c", _LOAD_WITH_ALL, str(path)], capture_output=True, text=True)
        assert "UnpicklingError" in result.stdout, result.stdout  # torch refuses it whatever is allowed
        return
    result = _run_program(od120[0].fix, path, tmp_path)
    assert result.returncode == 0 and "LOADED dict" in result.stdout, result.stderr[-2000:]
    named = od120[0].location.split(", ")
    assert all(allowlist.is_harmless(n) or n.startswith("numpy.dtypes.") for n in named), named


_LOAD_WITH_ALL = textwrap.dedent("""
    import importlib, sys, torch
    from ocrdoctor.read.allowlist import torch_weights_only
    from ocrdoctor.read.checkpoint import read_checkpoint
    with read_checkpoint(sys.argv[1]) as ckpt:
        names = sorted(set(ckpt.uses.globals) - torch_weights_only())
    allowed = [getattr(importlib.import_module(n.rsplit(".", 1)[0]), n.rsplit(".", 1)[1]) for n in names]
    try:
        with torch.serialization.safe_globals(allowed):
            torch.load(sys.argv[1], weights_only=True)
        print("LOADED")
    except Exception as exc:
        print(type(exc).__name__, exc)
""")


def test_every_harmless_entry_says_why_it_is_inert():
    data = Path(allowlist.__file__).resolve().parent.parent / "data"
    table = json.loads((data / "harmless_globals.json").read_text())
    kinds = {"data", "str", "dtype", "bitgen", "type"}
    for name, entry in table["globals"].items():
        assert entry["source"] and entry["what"], name
        assert set(entry["uses"]) <= {"call", "new", "ref"}, name
        for kind in entry["args"]:
            kind = kind.lstrip("*")
            assert kind in kinds or (kind.startswith("ref:") and all(
                allowlist.is_harmless(n) for n in kind[4:].split("|"))), (name, kind)
    assert set(table["bit_generators"]) == {"MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"}


# --- the streams, directories and links torch reads ---------------------------------------------

_LOAD = textwrap.dedent("""
    import sys, torch
    try:
        torch.load(sys.argv[1], weights_only=sys.argv[2] == "1")
    except BaseException as exc:
        print(type(exc).__name__)
""")


def _frame_layouts(m):
    """The cpython#154848 pickle in every layout, with the stream torch reads it from."""
    from tests import torchfile as tf
    from tests.payloads import _bytes_of
    from tests.payloads_gadgets import frame_in_tar_storages, frame_in_zip

    data = frame_divergent(m)
    return {
        "zip data.pkl (io.BytesIO)": (frame_in_zip(m), ".pt"),
        "tar storages (unbuffered)": (frame_in_tar_storages(m), ".tar"),
        "plain pickle (buffered file)": (data, ".pkl"),
        "legacy object (buffered file)": (_bytes_of(m, ".pt", lambda p: tf.save_legacy(p, {}, parts={3: data})), ".pt"),
        "tar pickle (tarfile.extractfile)": (_bytes_of(m, ".tar", lambda p: tf.save_tar(p, {}, parts={"pickle": data})),
                                             ".tar"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["zip data.pkl (io.BytesIO)", "tar storages (unbuffered)",
                                    "plain pickle (buffered file)", "legacy object (buffered file)",
                                    "tar pickle (tarfile.extractfile)"])
def test_frame_is_read_as_torch_reads_it(layout, tmp_path):
    """Each FRAME read path: the reader reports posix.system exactly when torch.load(weights_only=False) runs it,
    and torch's pure-Python weights-only unpickler runs it never."""
    pytest.importorskip("torch")
    marker = tmp_path / "ran"
    data, suffix = _frame_layouts(marker)[layout]
    path = tmp_path / f"frame{suffix}"
    path.write_bytes(data)
    seen = any("posix.system" in (f.location or "") for f in check_path(path).findings if f.rule == "OD101")
    subprocess.run([sys.executable, "-c", _LOAD, str(path), "1"], capture_output=True, timeout=120)
    assert not marker.exists(), "weights_only=True ran it"
    subprocess.run([sys.executable, "-c", _LOAD, str(path), "0"], capture_output=True, timeout=120)
    assert seen == marker.exists()


def test_a_zip64_locator_past_the_end_is_refused_as_torch_refuses_it(tmp_path):
    torch = pytest.importorskip("torch")
    import struct

    path = tmp_path / "ckpt.pt"
    torch.save({"w": torch.ones(3)}, path)
    data = path.read_bytes()
    end = data.rfind(b"PK\x05\x06")
    path.write_bytes(data[:end] + struct.pack("<4sIQI", b"PK\x06\x07", 0, len(data) * 10, 1) + data[end:])
    findings = check_path(path).findings
    assert [f.rule for f in findings if f.rule == "OD100"] and "locator" in findings[0].message
    result = subprocess.run([sys.executable, "-c", _LOAD, str(path), "0"], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip()  # torch.load raised too


def test_a_zip64_archive_zipfile_writes_is_read_whole(tmp_path):
    """A benign zip64 archive (zipfile's force_zip64) is read through its zip64 directory like any other."""
    torch = pytest.importorskip("torch")
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.linspace(0, 1, 8)}, plain)
    rebuilt = tmp_path / "zip64.pt"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(rebuilt, "w") as out:
        for info in src.infolist():
            with src.open(info) as member, out.open(info, "w", force_zip64=True) as target:
                target.write(member.read())
    assert torch.load(rebuilt)["w"].shape == (8,)
    report = check_path(rebuilt)
    assert not [f for f in report.findings if f.severity.value == "error"], report.findings
    assert report.targets[0].summary["tensors"] == 1


def test_a_tar_storages_link_is_refused(tmp_path):
    import io
    import tarfile

    from tests.torchfile import integer, pickled

    path = tmp_path / "linked.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("tensors", pickled(integer(0))), ("pickle", pickled(b"}"))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("storages")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    problem = [f.message for f in check_path(path).findings if f.rule == "OD100"]
    assert problem and "symbolic link" in problem[0] and "/etc/passwd" in problem[0]
