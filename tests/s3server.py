"""A local S3 API for the tests (moto in server mode), its endpoint and credentials in the environment as
s3fs reads them in production, and no filesystem from an earlier server left behind.

s3fs caches one filesystem per set of options (fsspec's instance cache); the endpoint is read from
`AWS_ENDPOINT_URL` when the filesystem is made. A second server in the same process (another test module)
would otherwise be reached through the first one's cached filesystem, at its stopped address."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


def _forget_filesystems() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@contextlib.contextmanager
def local_s3(*buckets: str) -> Iterator[object]:
    """A running moto server with `buckets` made; yields a boto3 client on it. Worker processes started
    inside inherit the environment, as a cluster's workers are given it."""
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    patch = pytest.MonkeyPatch()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
        patch.setenv(key, value)
    _forget_filesystems()
    try:
        import boto3

        client = boto3.client("s3")
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield client
    finally:
        _forget_filesystems()
        patch.undo()
        server.stop()
