"""docs/remote.md's scale-out recipe, run as written: its Dask lines (the listing included) on a real
`distributed.LocalCluster` of two worker processes, over 120 checkpoints on a local S3 API (moto in server
mode, as the remote tests use); the rows equal `check_paths(urls)` target by target."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.bag")
distributed = pytest.importorskip("distributed")
pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

from ocrdoctor import check_paths  # noqa: E402
from tests import torchfile as tf  # noqa: E402
from tests.s3server import local_s3  # noqa: E402

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parent.parent / "docs" / "remote.md"
FILES = 120


def recipe() -> str:
    """The docs' Python block that holds the Dask lines, verbatim."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    [block] = [b for b in blocks if "import dask.bag" in b]
    return block


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    """acme-models/releases/: 120 small checkpoints, some with training state, one not a checkpoint."""
    with local_s3("acme-models") as client:
        folder = tmp_path_factory.mktemp("bucket")
        for i in range(FILES):
            weights = {"conv.weight": np.full((2, 3, 2, 2), 0.01 * (i + 1), dtype=np.float32),
                       "conv.bias": np.array([0.25, -0.5], dtype=np.float32)}
            obj = {"model": weights, "epoch": i} if i % 3 == 0 else weights
            path = tf.save_zip(folder / f"m{i:03d}.pt", obj)
            client.put_object(Bucket="acme-models", Key=f"releases/{'ab'[i % 2]}/m{i:03d}.pt", Body=path.read_bytes())
        client.put_object(Bucket="acme-models", Key="releases/a/broken.pt", Body=b"not a checkpoint")
        yield


def test_the_docs_dask_recipe_runs_on_a_local_cluster_and_agrees_with_check_paths(bucket):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        scope: dict = {}
        exec(compile(recipe(), str(DOC), "exec"), scope)  # as the docs write it: listing, shards, map, compute
    rows, urls = scope["rows"], scope["urls"]
    assert len(urls) == FILES + 1 and len(rows) == len(urls)
    report = check_paths(urls)
    assert [r["target"] for r in rows] == [t.target for t in report.targets]
    for row, target in zip(rows, report.targets, strict=True):
        assert row["unreadable"] == target.unreadable, (target.target, target.summary)
        assert row["findings"] == [f.to_dict() for f in target.findings], target.target
        assert {k: v for k, v in row["facts"].items() if k != "seconds"} == \
            {k: v for k, v in dict(target.summary).items() if k != "seconds"}
    rules = {f["rule"] for r in rows for f in r["findings"]}
    assert {"OD100", "OD104"} <= rules  # the broken file, and the checkpoints saved under "model"
