"""What a remote check reads (issue 19), against a local server in the same run, beside what the tools
a team would pick instead read: picklescan's `scan_url` and a bare download for `torch.load`.

The server (tests/rangeserver.py) honours Range and counts every request (HEAD included) and
every body byte. Files, all built here:
- a 16 MB docTR checkpoint (db_mobilenet_v3_large, float32, with its optimizer step and epoch),
  as torch's zip and as safetensors: targets <= 3% of the bytes and <= 4 requests (`--values none`);
- a 1 GB zip checkpoint (the same model beside a 1 GB tensor): target under 1 MB read;
- the same 16 MB model in torch's legacy layout and in torch < 0.4's tar layout (no target: measured);
- `--values all` on the zip: what the value rules cost (each storage fetched once);
- a registry: 32 copies of the zip checked at 50 ms latency with --jobs 1 and --jobs 8 (files/s).
- `hf://org/repo/det.pt` through huggingface_hub's HfFileSystem against the same server answering
  the Hub's API calls: its resolution calls counted with the reads (target <= 8 requests).
Findings are compared with a local check of the same file, the value rules aside.

    python bench/bench_remote.py [--json out.json] [--no-gigabyte]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.rangeserver import Behaviour, serving  # noqa: E402

VALUE_RULES = ["OD109", "OD110", "OD116"]


def build(folder: Path, gigabyte: bool) -> dict[str, Path]:
    import torch
    from doctr.models import db_mobilenet_v3_large
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = db_mobilenet_v3_large(pretrained=False, pretrained_backbone=False)
    weights = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    files = {"zip": folder / "det.pt", "safetensors": folder / "det.safetensors", "legacy": folder / "det-legacy.pt"}
    torch.save({"model": weights, "epoch": 12, "step": 40_000}, files["zip"])
    save_file(weights, str(files["safetensors"]))
    torch.save({"model": weights, "epoch": 12}, files["legacy"], _use_new_zipfile_serialization=False)
    from tests.torchfile import save_tar  # torch < 0.4's tar layout, written without torch

    files["tar"] = save_tar(folder / "det-tar.pt", {k: v.numpy() for k, v in weights.items()})
    if gigabyte:
        files["1 GB zip"] = folder / "big.pt"
        torch.save({"model": weights, "embeddings": torch.zeros(1 << 28)}, files["1 GB zip"])  # 2^28 floats: 1 GiB
    return files


def remote_row(base: str, counts, path: Path, values: str) -> dict:
    from ocrdoctor.api import check_paths

    counts.reset()
    start = time.perf_counter()
    report = check_paths(f"{base}/{path.name}", values=values)
    seconds = time.perf_counter() - start
    ignore = VALUE_RULES if values == "none" else []
    local = check_paths(path, ignore=ignore)
    same = sorted((f.rule, f.message) for f in report.findings) == sorted((f.rule, f.message) for f in local.findings)
    size = path.stat().st_size
    facts = report.targets[0].summary
    return {"file": path.name, "bytes": size, "values": values, "bytes_read": counts.bytes_sent,
            "share": counts.bytes_sent / size, "requests": len(counts.requests),
            "facts_agree": facts.get("bytes_read") == counts.bytes_sent
            and facts.get("requests") == len(counts.requests),
            "same_findings": same, "seconds": seconds}


def picklescan_row(base: str, counts, path: Path) -> dict | None:
    try:
        from picklescan import scanner
    except ImportError:
        return None
    import http.client
    from unittest import mock

    counts.reset()
    start = time.perf_counter()
    # picklescan always speaks HTTPS; the local server speaks plain HTTP: same requests, same bytes
    with mock.patch.object(scanner.http.client, "HTTPSConnection", http.client.HTTPConnection):
        scanner.scan_url(f"{base}/{path.name}")
    return {"tool": "picklescan scan_url", "file": path.name, "bytes_read": counts.bytes_sent,
            "share": counts.bytes_sent / path.stat().st_size, "requests": len(counts.requests),
            "seconds": time.perf_counter() - start}


def download_row(base: str, counts, path: Path) -> dict:
    """What torch.load needs first: the whole file (fsspec's cat, one GET)."""
    import fsspec

    counts.reset()
    start = time.perf_counter()
    data = fsspec.filesystem("http").cat_file(f"{base}/{path.name}")
    return {"tool": "download for torch.load", "file": path.name, "bytes_read": counts.bytes_sent,
            "share": len(data) / path.stat().st_size, "requests": len(counts.requests),
            "seconds": time.perf_counter() - start}


def hub_row(folder: Path, path: Path) -> dict:
    from huggingface_hub import HfFileSystem, constants

    from ocrdoctor.api import check_paths

    with serving(folder, hub=True) as (base, counts):
        constants.ENDPOINT = base  # what HF_ENDPOINT sets when huggingface_hub is imported
        constants.HUGGINGFACE_CO_URL_TEMPLATE = base + "/{repo_id}/resolve/{revision}/{filename}"
        HfFileSystem.clear_instance_cache()
        report = check_paths(f"hf://org/repo/{path.name}")
        assert not report.unreadable, report.targets[0].unreadable
        return {"file": path.name, "bytes_read": counts.bytes_sent, "requests": len(counts.requests),
                "api_requests": sum(1 for r in counts.requests if r[1].startswith("/api/"))}


def registry(folder: Path, source: Path, copies: int, latency: float) -> list[dict]:
    from ocrdoctor.api import check_paths

    shelf = folder / "registry"
    shelf.mkdir()
    for i in range(copies):
        (shelf / f"model-{i:03d}.pt").write_bytes(source.read_bytes())
    rows = []
    with serving(shelf, Behaviour(latency=latency)) as (base, counts):
        for jobs in (1, 8):
            counts.reset()
            start = time.perf_counter()
            report = check_paths([f"{base}/model-{i:03d}.pt" for i in range(copies)], jobs=jobs)
            seconds = time.perf_counter() - start
            assert not report.unreadable
            rows.append({"files": copies, "latency_ms": latency * 1000, "jobs": jobs, "seconds": seconds,
                         "files_per_second": copies / seconds, "requests": len(counts.requests)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", dest="out")
    parser.add_argument("--no-gigabyte", action="store_true", help="leave out the 1 GB file")
    args = parser.parse_args()
    out: dict = {"checks": [], "instead": [], "registry": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = build(folder, not args.no_gigabyte)
        with serving(folder) as (base, counts):
            for layout, path in files.items():
                row = remote_row(base, counts, path, "none")
                out["checks"].append({"layout": layout, **row})
                print(f"{layout:12} {row['bytes'] / 2**20:8.1f} MiB  --values none: {row['bytes_read']:>10,} bytes "
                      f"({row['share']:.2%}) in {row['requests']} requests, {row['seconds'] * 1000:.0f} ms; "
                      f"facts agree: {row['facts_agree']}; findings as local: {row['same_findings']}")
            row = remote_row(base, counts, files["zip"], "all")
            out["checks"].append({"layout": "zip", **row})
            print(f"{'zip':12} --values all: {row['bytes_read']:,} bytes ({row['share']:.2%}) in {row['requests']} "
                  f"requests; findings as local: {row['same_findings']}")
            for row in filter(None, (picklescan_row(base, counts, files["zip"]), download_row(base, counts,
                                                                                              files["zip"]))):
                out["instead"].append(row)
                ours = out["checks"][0]
                row["ratio_bytes"] = row["bytes_read"] / ours["bytes_read"]
                print(f"{row['tool']:25} {row['bytes_read']:,} bytes ({row['share']:.0%}) in {row['requests']} "
                      "requests, "
                      f"{row['seconds'] * 1000:.0f} ms: {row['ratio_bytes']:.0f}x the bytes of `ocrdoctor check`")
        out["hub"] = hub_row(folder, files["zip"])
        print(f"hf://org/repo/{files['zip'].name}: {out['hub']['bytes_read']:,} bytes in {out['hub']['requests']} "
              f"requests ({out['hub']['api_requests']} of them the Hub's API)")
        out["registry"] = registry(folder, files["zip"], 32, 0.05)
        for row in out["registry"]:
            print(f"registry: {row['files']} files at {row['latency_ms']:.0f} ms latency, --jobs {row['jobs']}: "
                  f"{row['files_per_second']:.1f} files/s ({row['requests']} requests)")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
