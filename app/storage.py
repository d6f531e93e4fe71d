"""Where uploaded files live: a folder on this machine, or S3-compatible object storage.

Attachments, images, materials and seals are bytes that outlive a request and must be
reachable from every app instance. One small interface — save, load, delete — hides where
they are kept: the default is a folder under `instance/`, right for one machine; with several
instances, `STORAGE_BACKEND=s3` keeps them in a bucket of any S3-compatible service
(AWS S3, MinIO, a government cloud's object storage), reached through boto3.

Keys are chosen by Tsudoi, never by the uploader (`new_key`), and are unguessable; the
database row that points to a key decides who may download it, so the storage itself is
never exposed to browsers. A file's name and type are kept in that row, not in the key.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[A-Za-z0-9_-]+)+$")
_EXTENSION_KEY = "tsudoi_storage"


class StoredFileMissing(LookupError):
    """No file under this key (never saved, or deleted)."""


class Storage(Protocol):
    def save(self, key: str, data: bytes, content_type: str) -> None: ...

    def load(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None:
        """Remove the file; a key that holds nothing is not an error."""
        ...


def new_key(area: str) -> str:
    """A fresh, unguessable key in an area such as "board" or "materials"."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", area):
        raise ValueError(f"invalid storage area {area!r}")
    return f"{area}/{secrets.token_urlsafe(24)}"


def _checked(key: str) -> str:
    # Keys come from new_key(), but a row edited by hand must never reach outside the root.
    if not _KEY.fullmatch(key):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Files in a folder; each written to a temporary file first, then renamed into place,
    so a reader never sees half a file, even if the process dies while writing."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise StoredFileMissing(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Storage:
    """Objects in one bucket of an S3-compatible service, under an optional prefix.

    Credentials come from boto3's usual sources (AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, a profile, or an instance role), never from Tsudoi's settings.
    """

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        import boto3  # only installations that use object storage pay for importing it
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(retries={"mode": "standard", "max_attempts": 3},
                          connect_timeout=5, read_timeout=30),
        )

    def _object(self, key: str) -> str:
        return self.prefix + _checked(key)

    def save(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data,
                               ContentType=content_type)

    def load(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._object(key))
        except self.client.exceptions.NoSuchKey:
            raise StoredFileMissing(key) from None
        body: bytes = response["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))


def build_storage(config: dict[str, Any]) -> Storage:
    backend = config.get("STORAGE_BACKEND", "local")
    if backend == "s3":
        return S3Storage(config["S3_BUCKET"], prefix=config.get("S3_PREFIX") or "",
                         endpoint_url=config.get("S3_ENDPOINT_URL") or None,
                         region=config.get("S3_REGION") or None)
    return LocalStorage(Path(config["STORAGE_LOCAL_PATH"]))


def init_app(app: Flask) -> None:
    # Built on first use: a `flask` command that never touches files doesn't import boto3.
    app.extensions[_EXTENSION_KEY] = None


def get_storage() -> Storage:
    """The current app's storage."""
    storage: Storage | None = current_app.extensions.get(_EXTENSION_KEY)
    if storage is None:
        storage = build_storage(current_app.config)
        current_app.extensions[_EXTENSION_KEY] = storage
    return storage
