"""Malicious checkpoints are reported as OD101 and never run: the payloads would leave marker files."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import sys
import zipfile

import pytest
import torch

from ocrdoctor.api import check_path
from ocrdoctor.checks.examples import SystemCall, tiny_state_dict
from ocrdoctor.inspect import pickles
from tests.conftest import codes, run_process


def _payload(marker) -> SystemCall:
    return SystemCall(f"touch {marker}")


def _assert_reported_not_run(path, marker, *expected_globals):
    report = check_path(path)
    [target] = report.targets
    od101 = [f for f in target.findings if f.rule == "OD101"]
    assert od101, target.findings
    for name in expected_globals:
        assert name in od101[0].location
    assert not marker.exists(), "the payload ran"
    # the weights-dependent rules skipped with a reason instead of loading the file
    assert any(s.rule == "OD103" and "run code" in s.reason for s in target.skipped)


def test_zip_checkpoint_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": tiny_state_dict(), "x": _payload(marker)}, path)
    _assert_reported_not_run(path, marker, f"{os.name == 'posix' and 'posix' or 'nt'}.system")


def test_legacy_checkpoint_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": tiny_state_dict(), "x": _payload(marker)}, path, _use_new_zipfile_serialization=False)
    _assert_reported_not_run(path, marker, "posix.system")
    assert check_path(path).targets[0].summary["format"] == "legacy"


def test_plain_pickle_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps({"x": _payload(marker)}, protocol=4))  # protocol 4 uses STACK_GLOBAL
    _assert_reported_not_run(path, marker, "posix.system")


def test_protocol_0_pickle_payload(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl.pt"
    path.write_bytes(b"\x80\x02" + pickle.dumps(_payload(marker), protocol=0))
    _assert_reported_not_run(path, marker, "posix.system")


def test_module_that_runs_code_on_import_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    package = tmp_path / "pkgs"
    package.mkdir()
    (package / "odevil_side_effect.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(package))
    # A pickle that names odevil_side_effect.Thing: importing the module would write the marker.
    data = b"\x80\x02codevil_side_effect\nThing\nq\x00)\x81q\x01."
    path = tmp_path / "ckpt.pt"
    path.write_bytes(data)
    _assert_reported_not_run(path, marker, "odevil_side_effect.Thing")
    assert "odevil_side_effect" not in sys.modules


def test_cli_process_reports_payload_with_exit_1(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"x": _payload(marker)}, path)
    proc = run_process("check", path)
    assert proc.returncode == 1
    assert "OD101" in proc.stdout and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_pickled_docTR_model_is_od102_not_od101(tmp_path):
    from ocrdoctor.checks.examples import doctr_model

    path = tmp_path / "whole.pt"
    torch.save(doctr_model("crnn_mobilenet_v3_small"), path)
    report = check_path(path)
    assert codes(report) == ["OD102"]
    [finding] = report.findings
    assert "doctr.models.recognition.crnn.pytorch.CRNN" in finding.location


def test_pickled_module_with_payload_is_both(tmp_path):
    marker = tmp_path / "pwned"
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model.payload = _payload(marker)
    path = tmp_path / "both.pt"
    torch.save(model, path)
    assert codes(check_path(path)) == ["OD101", "OD102"]
    assert not marker.exists()


def test_stack_global_through_memo_is_resolved():
    # 'os' and 'system' are memoized and popped, then fetched back with BINGET
    data = b"\x80\x04\x8c\x02os\x940\x8c\x06system\x940h\x00h\x01\x93\x8c\x04true\x85R."
    pickletools.dis(io.BytesIO(data), out=io.StringIO())  # a valid pickle
    assert pickles.scan_pickle(io.BytesIO(data)).globals == {"os.system"}


def test_strings_hidden_under_a_mark_do_not_fool_the_scan():
    # 'os' 'system', then MARK 'torch._utils' '_rebuild_tensor_v2' TUPLE POP: the real stack
    # top is ('os', 'system') again; a scanner that ignores marks would see the torch names.
    data = (
        b"\x80\x04\x8c\x02os\x8c\x06system(\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2t0"
        b"\x93\x8c\x04true\x85R."
    )
    assert pickles.scan_pickle(io.BytesIO(data)).globals == {"os.system"}


def test_computed_global_name_is_flagged():
    # STACK_GLOBAL whose operands are not plain strings (built at load time)
    data = b"\x80\x04K\x01K\x02\x93."
    assert pickles.scan_pickle(io.BytesIO(data)).globals == {pickles.DYNAMIC}


def test_scan_agrees_with_torchs_checker_on_zip_files(tmp_path):
    for i, obj in enumerate([tiny_state_dict(), {"x": SystemCall("true")}, torch.nn.Linear(2, 2)]):
        path = tmp_path / f"{i}.pt"
        torch.save(obj, path)
        with zipfile.ZipFile(path) as archive:
            [name] = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            scan = pickles.scan_pickle(io.BytesIO(archive.read(name)))
        ours = sorted(scan.globals - pickles.torch_allowlist())
        assert ours == sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval", "subprocess.Popen", pickles.DYNAMIC])
def test_dangerous_names(name):
    assert pickles.is_dangerous(name)


@pytest.mark.parametrize("name", ["builtins.set", "torch.nn.modules.conv.Conv2d", "mypkg.models.Net"])
def test_class_names_of_a_pickled_model_are_not_dangerous(name):
    assert not pickles.is_dangerous(name)
