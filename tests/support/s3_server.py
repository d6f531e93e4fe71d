"""A real S3 API server for tests: moto's server mode in a subprocess, on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    region: str = "ap-northeast-1"

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name,
                             CreateBucketConfiguration={"LocationConstraint": self.region})

    def app_config(self, bucket: str) -> dict[str, str]:
        """Settings that point an app at this server (see app/config.py)."""
        return {"STORAGE_BACKEND": "s3", "S3_BUCKET": bucket,
                "S3_ENDPOINT_URL": self.endpoint_url, "S3_REGION": self.region}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, reached over HTTP exactly as a real object store would be.

    boto3 needs credentials to sign requests; moto accepts any: set S3_TEST_CREDENTIALS in
    the environment of whatever talks to it (monkeypatch.setenv)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)


S3_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
