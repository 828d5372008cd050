"""Checkpoints where they live (issue 19): real servers on this machine, real docTR checkpoints.

- a local HTTP server that honours Range and counts every request and byte (tests/rangeserver.py),
  and misbehaves on demand: a size it lies about, a body cut short, a stall, ranges ignored, 503s;
- an S3 API served by moto in server mode, read through s3fs, with a prefix listed as a folder;
- the Hub (`hf://`) through huggingface_hub's own HfFileSystem, pointed at the same server, which
  answers the API calls HfFileSystem makes (repo info, tree) and serves files under `resolve/`.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")

import ocrdoctor  # noqa: E402
from ocrdoctor.api import check_paths  # noqa: E402
from ocrdoctor.read.remote import RemoteBytes, RemoteError, Transfer, redact, scrub  # noqa: E402
from tests.conftest import codes, run, run_process  # noqa: E402
from tests.rangeserver import Behaviour, serving  # noqa: E402
from tests.s3server import local_s3  # noqa: E402

SECRET = "X-Amz-Signature=0123abcd"
VALUE_RULES = {"OD109", "OD110", "OD116", "OD127", "OD128"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The trained pair's detector as teams keep it: a torch zip with training state beside the weights
    (det.pt, OD104), the same weights as safetensors, and a copy with one NaN (bad.pt, OD109)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    det = ocrdoctor.trained_pair()[0]
    folder = tmp_path_factory.mktemp("served")
    weights = load_file(str(det))
    torch.save({"model": weights, "epoch": 12, "optimizer": {"lr": 1e-3}}, folder / "det.pt")
    save_file(weights, str(folder / "det.safetensors"), metadata={"arch": "db_mobilenet_v3_large"})
    bad = dict(weights)
    name = next(k for k, v in bad.items() if v.is_floating_point() and v.ndim == 4)
    bad[name] = bad[name].clone()
    bad[name].view(-1)[0] = float("nan")
    torch.save({"model": bad}, folder / "bad.pt")
    (folder / "notes.txt").write_text("not a model")
    return folder


def _findings(report) -> list[tuple[str, str]]:
    return sorted((f.rule, f.message) for f in report.findings)


@pytest.mark.parametrize("name", ["det.pt", "det.safetensors"])
def test_a_remote_check_reads_kilobytes_and_finds_what_a_local_one_finds(files, name):
    size = (files / name).stat().st_size
    with serving(files) as (base, counts):
        report = check_paths(f"{base}/{name}?{SECRET}")
        sent, requests = counts.bytes_sent, list(counts.requests)
    local = check_paths(files / name, ignore=sorted(VALUE_RULES))
    assert _findings(report) == _findings(local)  # the value rules aside, the same findings
    [target] = report.targets
    assert {s.rule for s in target.skipped} == VALUE_RULES
    assert all("--values none" in s.reason for s in target.skipped)
    assert target.summary["bytes_read"] == sent <= 0.03 * size  # at most 3% of the file
    assert target.summary["requests"] == len(requests) <= 4  # HEAD included: the server counted them all
    assert target.target == f"{base}/{name}" and report.exit_code() == 0


def test_without_torch_the_committed_checkpoints_read_remotely_as_locally():
    """What a deployment without the doctr extra runs: torch-written files of every layout, over HTTP."""
    from pathlib import Path

    folder = Path(__file__).parent / "data" / "checkpoints"
    names = sorted(p.name for p in folder.iterdir())
    with serving(folder) as (base, _):
        remote = check_paths([f"{base}/{n}" for n in names], values="all")
    local = check_paths([folder / n for n in names])
    assert [(f.rule, f.message) for f in remote.findings] == [(f.rule, f.message) for f in local.findings]
    assert "OD109" in codes(remote) and not remote.unreadable
    assert [t.target.rsplit("/", 1)[-1] for t in remote.targets] == names


def test_values_all_fetches_each_storage_once_and_runs_the_value_rules(files):
    with serving(files) as (base, counts):
        report = check_paths([f"{base}/bad.pt", f"{base}/det.pt"], values="all")
        sent = counts.bytes_sent
    local = check_paths([files / "bad.pt", files / "det.pt"])
    assert _findings(report) == _findings(local)
    assert "OD109" in {f.rule for f in report.findings} and report.exit_code() == 1
    total = sum((files / n).stat().st_size for n in ("bad.pt", "det.pt"))
    assert sent <= total  # nothing fetched twice
    assert all(t.summary["requests"] <= 4 and not t.skipped for t in report.targets)


def test_every_output_format_hides_credentials_and_query_strings(files):
    with serving(files) as (base, _):
        url = base.replace("http://", "http://alice:hunter2@") + f"/det.pt?{SECRET}"
        for fmt in ("text", "concise", "json", "jsonl", "sarif", "junit", "github", "html"):
            result = run("check", url, "--format", fmt)
            assert result.exit_code == 0, result.stdout + result.stderr
            for secret in ("hunter2", "alice", SECRET, "0123abcd"):
                assert secret not in result.stdout, (fmt, secret)
        sarif = json.loads(run("check", url, "--format", "sarif").stdout)
        uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == f"{base}/det.pt"


def test_jsonl_streams_one_line_per_target_then_the_summary(files):
    with serving(files) as (base, _):
        result = run_process("check", f"{base}/det.pt", f"{base}/bad.pt", f"{base}/gone.pt", "--values", "all",
                             "--format", "jsonl", "--jobs", "2")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    *targets, summary = lines
    assert sorted(t["target"].rsplit("/", 1)[-1] for t in targets) == ["bad.pt", "det.pt", "gone.pt"]
    by_name = {t["target"].rsplit("/", 1)[-1]: t for t in targets}
    assert [f["rule"] for f in by_name["bad.pt"]["findings"]].count("OD109") == 1
    assert by_name["gone.pt"]["facts"]["status"] == 404 and by_name["gone.pt"]["errors"][0]["name"] == "unreadable"
    assert summary["exit_code"] == result.returncode == 2  # a target that could not be read fails the run
    assert summary["targets"] == 3 and summary["summary"]["error"] >= 1


def test_a_missing_file_is_a_run_error_and_the_run_goes_on(files):
    with serving(files) as (base, _):
        result = run("check", f"{base}/gone.pt", f"{base}/det.pt", "--format", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 2
    [error] = data["errors"]
    assert error["name"] == "unreadable" and "not found (HTTP 404)" in error["error"]
    assert "OD100" not in {f["rule"] for f in data["findings"]}  # a network failure is not a bad model
    assert {f["rule"] for f in data["findings"]} == set(codes(check_paths(files / "det.pt")))  # det.pt: checked


def test_failures_that_pass_are_retried_and_counted(files):
    with serving(files, Behaviour(fail_first=2)) as (base, counts):
        report = check_paths(f"{base}/det.pt")
        seen = len(counts.requests)
    [target] = report.targets
    assert not target.unreadable and {f.rule for f in report.findings} == {"OD103", "OD104"}
    assert target.summary["requests"] == seen == 5  # two 503s on HEAD, then HEAD, head and tail


@pytest.mark.parametrize(("behaviour", "expected"), [
    (Behaviour(declared=50_000_000), "disagree"),  # claims 50 MB: its tail is not there
    (Behaviour(cut_after=1000), "3 tries"),  # every body cut short: retried, then given up
    (Behaviour(ignore_range=True), "ignores range requests"),
    (Behaviour(stall=True), "timed out"),
    (Behaviour(status=403), "access denied (HTTP 403)"),
])
@pytest.mark.slow
def test_a_hostile_server_ends_in_a_run_error_within_the_timeout(files, behaviour, expected):
    # 1 s where the timeout is what ends it, else 4. The server that ignores ranges is asked from a fresh
    # process, as a user runs it: in the full suite's process (after some earlier test, not yet found) every
    # try of that one case timed out instead, still a run error in bounded time but not the precise message.
    timeout = "1" if behaviour.stall else "4"
    with serving(files, behaviour) as (base, _):
        start = time.perf_counter()
        argv = ("check", f"{base}/det.pt", "--timeout", timeout, "--format", "json")
        if behaviour.ignore_range:
            done = run_process(*argv)
            stdout, code = done.stdout, done.returncode
        else:
            result = run(*argv)
            stdout, code = result.stdout, result.exit_code
        took = time.perf_counter() - start
    data = json.loads(stdout)
    assert code == 2, stdout
    [error] = data["errors"]
    assert expected in error["error"] and data["findings"] == []
    assert took < 15  # three tries of one second each, and the backoff between them


def test_a_fix_program_for_a_remote_file_copies_it_and_runs(files, tmp_path, monkeypatch):
    """OD104's program, pasted as printed: fsspec copies the file into a fresh folder (a local file of the same
    name is left alone), then the fix runs on the copy."""
    import torch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "det.pt").write_bytes(b"the user's own det.pt")
    with serving(files) as (base, _):
        [finding] = [f for f in check_paths(f"{base}/det.pt").findings if f.rule == "OD104"]
        assert finding.command is None  # `ocrdoctor fix` takes local files: the program makes the copy
        namespace: dict = {}
        exec(compile(finding.fix, "<OD104 fix>", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "det.pt").read_bytes() == b"the user's own det.pt"
    assert open(namespace["path"], "rb").read() == (files / "det.pt").read_bytes()
    saved = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert set(saved) == set(torch.load(files / "det.pt", weights_only=True)["model"])


def test_an_onnx_url_is_listed_as_not_read(files, tmp_path):
    """A remote ONNX export is not checked (with the reason), never clean; alone, nothing was checked: exit 2."""
    from ocrdoctor.core.engine import UsageError

    (files / "model.onnx").write_bytes(b"not really")
    try:
        with serving(files) as (base, _):
            with pytest.raises(UsageError, match="nothing was checked: .*model.onnx: .*download it"):
                check_paths(f"{base}/model.onnx")
            report = check_paths([f"{base}/model.onnx", f"{base}/{sorted(p.name for p in files.glob('*.pt'))[0]}"])
    finally:
        (files / "model.onnx").unlink()
    target = report.targets[0]
    assert "download it" in target.summary["not_read"] and target.skipped and target.status == "not_checked"
    assert report.targets[1].checked and len(report.not_checked) == 1


# --- S3, served by moto -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(files):
    """A bucket on a local S3 API (moto in server mode), credentials and endpoint from the environment, as
    s3fs reads them in production."""
    with local_s3("models") as client:
        for key, name in (("prod/det.pt", "det.pt"), ("prod/bad.pt", "bad.pt"), ("prod/notes.txt", "notes.txt"),
                          ("prod/v2/weights", "det.safetensors")):
            client.put_object(Bucket="models", Key=key, Body=(files / name).read_bytes())
        yield client


def test_an_s3_prefix_is_listed_sniffed_and_checked_like_a_folder(s3, files):
    report = check_paths("s3://models/prod/", jobs=2)
    names = [t.target for t in report.targets]
    assert names == ["s3://models/prod/bad.pt", "s3://models/prod/det.pt", "s3://models/prod/v2/weights"]
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("s3://models/prod/notes.txt", "not a checkpoint (its first bytes say so)")]
    local = check_paths([files / "bad.pt", files / "det.pt", files / "det.safetensors"], ignore=sorted(VALUE_RULES))
    assert _findings(report) == _findings(local)
    det = report.targets[1].summary
    assert det["requests"] <= 3 and det["bytes_read"] <= 0.03 * (files / "det.pt").stat().st_size


def test_s3_globs_values_and_a_missing_key(s3):
    report = check_paths(["s3://models/prod/", "s3://models/prod/gone.pt"], include=["*.pt"], values="all")
    assert [t.target.rsplit("/", 1)[-1] for t in report.targets] == ["bad.pt", "det.pt", "gone.pt"]
    assert "OD109" in {f.rule for f in report.findings}
    assert report.targets[-1].summary["status"] == 404 and report.exit_code() == 2


# --- the byte source ----------------------------------------------------------------------------

def _source(data: bytes, read_ahead: int = 16):
    calls = []

    def fetch(start, stop):
        calls.append((start, stop))
        return data[start:stop]

    return RemoteBytes(fetch, len(data), Transfer(), read_ahead), calls


def test_the_byte_source_joins_ranges_and_never_fetches_a_byte_twice():
    data = bytes(range(256)) * 40
    source, calls = _source(data)
    assert source[100:110] == data[100:110] and source[-5:] == data[-5:] and source[3] == data[3]
    source.prefetch([(200, 300), (310, 400), (5000, 5010)])  # the first two closer than the read-ahead: joined
    assert source[0:len(data)] == data
    fetched = sorted(calls)
    assert all(a >= b for (_, b), (a, _) in zip(fetched, fetched[1:], strict=False))  # no byte asked for twice
    assert (200, 400) in calls


def test_a_short_read_is_a_remote_error_not_a_damaged_file():
    source = RemoteBytes(lambda a, b: b"x" * (b - a - 1), 1000, Transfer())
    with pytest.raises(RemoteError, match="disagree"):
        source[10:20]
    with pytest.raises(RemoteError):
        source.raise_failure()


def test_redaction():
    url = "https://bob:tok3n@example.com:8443/models/det.pt?X-Amz-Signature=abc#frag"
    assert redact(url) == "https://example.com:8443/models/det.pt"
    assert scrub(f"GET {url} failed; sig X-Amz-Signature=abc", url) == \
        "GET https://example.com:8443/models/det.pt failed; sig <redacted>"


# --- the Hub, through HfFileSystem against a local endpoint -------------------------------------

@pytest.fixture
def hub(files, monkeypatch):
    """`hf://org/repo` served locally: huggingface_hub's own HfFileSystem, pointed at this machine."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import HfFileSystem, constants

    with serving(files, hub=True) as (base, counts):
        monkeypatch.setattr(constants, "ENDPOINT", base)  # what HF_ENDPOINT sets when huggingface_hub is imported
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", base + "/{repo_id}/resolve/{revision}/{filename}")
        HfFileSystem.clear_instance_cache()
        yield counts
    HfFileSystem.clear_instance_cache()


def test_a_hub_repository_is_listed_and_read_in_ranges(hub, files):
    report = check_paths("hf://org/repo")
    assert [t.target for t in report.targets] == ["hf://org/repo/bad.pt", "hf://org/repo/det.pt",
                                                 "hf://org/repo/det.safetensors"]
    assert [s.path for s in report.skipped] == ["hf://org/repo/notes.txt"]
    local = check_paths([files / "bad.pt", files / "det.pt", files / "det.safetensors"], ignore=sorted(VALUE_RULES))
    assert _findings(report) == _findings(local)
    hub.reset()
    [target] = check_paths("hf://org/repo/det.pt").targets
    reads = [r for r in hub.requests if "/resolve/" in r[1]]
    assert len(reads) == target.summary["requests"] - 1 <= 3  # the size came from the API, then head and tail
    assert len(hub.requests) <= 8  # the Hub's own resolution calls included (issue 19's target)
    assert sum(1 for r in reads if r[2]) == len(reads)  # every read a range


def test_a_remote_directory_larger_than_the_materialised_limit_is_od125(files):
    """A mapped file's directory is parsed in place; a remote one is held in memory, so the limit counts it."""
    from ocrdoctor.core.config import Settings

    with serving(files) as (base, counts):
        report = check_paths(f"{base}/det.pt", settings=Settings(limits={"materialised": 4096}))
    assert codes(report) == ["OD125"] and "materialised" in report.findings[0].message
    assert counts.bytes_sent < 200_000  # stopped at the directory's size, nothing more fetched
    assert "OD125" not in codes(check_paths(files / "det.pt", settings=Settings(limits={"materialised": 4096})))


def test_values_are_read_in_bounded_batches(files, monkeypatch):
    """A remote file's storages are fetched a batch at a time and let go: memory stays bounded."""
    from ocrdoctor.read import file

    monkeypatch.setattr(file, "REMOTE_BATCH", 1 << 20)
    with serving(files) as (base, counts):
        report = check_paths(f"{base}/bad.pt", values="all")
        requests, sent = len(counts.requests), counts.bytes_sent
    assert _findings(report) == _findings(check_paths(files / "bad.pt"))
    size = (files / "bad.pt").stat().st_size
    assert requests > size // (1 << 20) and sent <= size + requests * (64 << 10)  # batch by batch, each once


# --- sharded models where they live -------------------------------------------------------------

def test_a_remote_shard_index_is_joined_as_a_local_one_is(tmp_path):
    """One question, one answer, here and remotely: an index stands for its shards (joined, checked once), its
    shards are not checked again on their own; values are read shard by shard."""
    pytest.importorskip("safetensors")
    from ocrdoctor.checks import examples as ex
    from tests.test_shards import ARCH, _shard

    index, files = _shard(tmp_path, ex.doctr_state_dict(ARCH), fmt="safetensors")
    local = check_paths(tmp_path, values="all")
    with serving(tmp_path) as (base, counts):
        joined = check_paths(f"{base}/{index.name}", values="all")
        listed = check_paths([f"{base}/{index.name}", *(f"{base}/{f.name}" for f in files[1:])])
    [target] = joined.targets
    assert target.summary["shards"] == 3 and target.summary["architecture"].startswith(ARCH)
    assert _findings(joined) == _findings(local) == []
    assert not target.skipped  # the value rules read every shard's storages
    assert 0 < target.summary["bytes_read"] and target.summary["requests"] >= 4
    assert [t.target for t in listed.targets][0] == f"{base}/{index.name}"
    assert len(listed.targets) == 3  # shards named on their own are still checked on their own


def test_an_s3_prefix_with_a_shard_index_checks_the_model_once(s3, tmp_path):
    pytest.importorskip("safetensors")
    from ocrdoctor.checks import examples as ex
    from tests.test_shards import ARCH, _shard

    index, files = _shard(tmp_path, ex.doctr_state_dict(ARCH), fmt="safetensors")
    for path in (index, *files):
        s3.put_object(Bucket="models", Key=f"sharded/{path.name}", Body=path.read_bytes())
    report = check_paths("s3://models/sharded/")
    assert [t.target for t in report.targets] == [f"s3://models/sharded/{index.name}"]
    assert report.targets[0].summary["shards"] == 3 and report.findings == []
