"""Sharded checkpoints (issue 17): the shards a Hugging Face index names are joined and checked as one
model; a folder check reports the set once; a shard checked alone says it is one shard of N; a hostile
or malformed shard or index is a finding on the set, never a crash."""

from __future__ import annotations

import json
import os

import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from ocrdoctor.api import check_path, check_paths  # noqa: E402
from ocrdoctor.checks import examples as ex  # noqa: E402
from tests.conftest import codes, run, run_process  # noqa: E402

ARCH = "crnn_mobilenet_v3_small"


def _shard(folder, sd, *, fmt: str, parts: int = 3, extra: dict | None = None) -> tuple:
    """Write `sd` as transformers' save_pretrained shards it: files i-of-n and an index naming each key's shard."""
    keys = list(sd)
    stem, suffix = ("model", "safetensors") if fmt == "safetensors" else ("pytorch_model", "bin")
    weight_map, files = {}, []
    for i in range(parts):
        name = f"{stem}-{i + 1:05d}-of-{parts:05d}.{suffix}"
        chunk = {k: sd[k].contiguous() for k in keys[i::parts]}
        if fmt == "safetensors":
            safetensors_torch.save_file(chunk, folder / name)
        else:
            torch.save({**chunk, **(extra or {} if i == parts - 1 else {})}, folder / name)
        weight_map.update(dict.fromkeys(chunk, name))
        files.append(folder / name)
    index = folder / f"{stem}.{suffix}.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": sum(t.numel() * t.element_size() for t in sd.values())},
                                 "weight_map": weight_map}))
    return index, files


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_a_sharded_model_is_one_target_in_a_folder_check(tmp_path, fmt):
    index, files = _shard(tmp_path, ex.doctr_state_dict(ARCH), fmt=fmt)
    report = check_paths(tmp_path)
    assert [t.target for t in report.targets] == [str(index)]
    [target] = report.targets
    assert target.summary["shards"] == 3 and target.summary["architecture"].startswith(ARCH)
    assert target.summary["tensors"] == len(ex.doctr_state_dict(ARCH))
    assert target.findings == ()
    assert target.summary["bytes"] == sum(f.stat().st_size for f in files)


def test_a_shard_alone_says_it_is_one_shard_of_n(tmp_path):
    _, files = _shard(tmp_path, ex.doctr_state_dict(ARCH), fmt="safetensors")
    result = run("check", files[1], "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["findings"] == []  # no OD112 on a fraction of a model
    assert data["targets"][0]["facts"]["shard"] == "2 of 3"
    text = run("check", files[1]).stdout
    assert "shard 2 of 3 of a sharded model: check its index (*.index.json) for the model" in text


def test_an_untrained_sharded_model_is_found_untrained_as_a_whole(tmp_path):
    index, _ = _shard(tmp_path, ex.doctr_model(ARCH, trained=False).state_dict(), fmt="safetensors")
    assert "OD116" in codes(check_path(index))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/ocrdoctor-shard-pwned",))


def test_a_hostile_shard_makes_the_set_unsafe_and_nothing_runs(tmp_path):
    index, _ = _shard(tmp_path, ex.doctr_state_dict(ARCH), fmt="bin", extra={"note": _Payload()})
    proc = run_process("check", tmp_path, "--format", "json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    [finding] = [f for f in data["findings"] if f["rule"] == "OD101"]
    assert finding["target"] == str(index) and "posix.system" in finding["message"]
    assert not os.path.exists("/tmp/ocrdoctor-shard-pwned")
    fix = run("fix", index, "-o", tmp_path / "clean.pt")
    assert fix.exit_code == 2 and "refusing" in fix.stderr and not (tmp_path / "clean.pt").exists()


@pytest.mark.parametrize(("weight_map", "message"), [
    ({"a": "../outside.bin"}, "shards must be files beside the index"),
    ({"a": "missing-00001-of-00001.bin"}, "shard missing-00001-of-00001.bin: cannot open"),
    ({}, "no weight_map"),
])
def test_a_bad_index_is_od100_on_the_index(tmp_path, weight_map, message):
    index = tmp_path / "model.bin.index.json"
    index.write_text(json.dumps({"weight_map": weight_map}))
    [finding] = check_path(index).findings
    assert finding.rule == "OD100" and message in finding.message


def test_the_same_tensor_in_two_shards_is_a_problem(tmp_path):
    sd = ex.doctr_state_dict(ARCH)
    index, files = _shard(tmp_path, sd, fmt="safetensors", parts=2)
    first = next(iter(sd))
    safetensors_torch.save_file({**safetensors_torch.load_file(files[1]), first: sd[first].contiguous()}, files[1])
    [finding] = check_path(index).findings
    assert finding.rule == "OD100" and f"tensor {first} is in two shards" in finding.message


def test_fix_joins_the_shards_into_one_file_that_loads(tmp_path):
    index, _ = _shard(tmp_path, ex.doctr_state_dict(ARCH), fmt="bin")
    out = tmp_path / "joined.safetensors"  # the suffix alone asks for safetensors (torch.load could not read a
    result = run("fix", index, "-o", out)  # torch.save file by that name)
    assert result.exit_code == 0, result.stderr
    assert "loads strictly into crnn_mobilenet_v3_small" in result.stdout
    model = ex.doctr_model(ARCH)
    model.load_state_dict(safetensors_torch.load_file(out), strict=True)
    assert list(check_path(out).findings) == []
