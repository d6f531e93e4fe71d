"""Uploaded files kept in a local folder or in S3-compatible storage (a real moto server),
and sent back with the download headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from flask import Flask

from app.storage import LocalStorage, S3Storage, Storage, StoredFileMissing, get_storage, new_key
from app.web.downloads import send_stored_file
from tests.conftest import make_app
from tests.support.s3_server import S3_TEST_CREDENTIALS, S3Server, s3_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in S3_TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "uploads")
    request.getfixturevalue("s3_credentials")
    server: S3Server = request.getfixturevalue("s3")
    bucket = f"tsudoi-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    server.create_bucket(bucket)
    return S3Storage(bucket, prefix="files", endpoint_url=server.endpoint_url,
                     region=server.region)


def test_a_saved_file_reads_back_and_is_gone_once_deleted(storage: Storage) -> None:
    key = new_key("board")
    data = "資料".encode() + bytes(range(256)) * 1000
    storage.save(key, data, "application/pdf")
    assert storage.load(key) == data
    storage.delete(key)
    with pytest.raises(StoredFileMissing):
        storage.load(key)
    storage.delete(key)  # deleting twice is not an error


def test_saving_again_replaces_the_file(storage: Storage) -> None:
    key = new_key("news")
    storage.save(key, b"first", "text/plain")
    storage.save(key, b"second", "text/plain")
    assert storage.load(key) == b"second"


def test_an_unknown_key_is_missing(storage: Storage) -> None:
    with pytest.raises(StoredFileMissing):
        storage.load(new_key("materials"))


@pytest.mark.parametrize("key", ["../secret_key", "board/../../secret_key", "/etc/passwd",
                                 "board/", "board/a b", "Board/x", "board//x", ""])
def test_keys_that_could_leave_the_storage_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    (tmp_path / "secret_key").write_text("secret")
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.load(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.save(key, b"x", "text/plain")


def test_new_keys_are_unguessable_and_distinct() -> None:
    keys = {new_key("board") for _ in range(1000)}
    assert len(keys) == 1000
    assert all(key.startswith("board/") and len(key) >= len("board/") + 32 for key in keys)
    with pytest.raises(ValueError):
        new_key("../x")


def test_a_local_file_is_never_seen_half_written(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "uploads")
    key = new_key("board")
    storage.save(key, b"x" * 10, "text/plain")

    def interrupted(source: str, target: str) -> None:
        raise OSError("disk full")

    # A write that fails before it is renamed into place leaves the previous file, and no
    # temporary file, behind.
    monkeypatch.setattr("app.storage.os.replace", interrupted)
    with pytest.raises(OSError, match="disk full"):
        storage.save(key, b"y" * 10, "text/plain")
    assert storage.load(key) == b"x" * 10
    assert [path.name for path in (tmp_path / "uploads" / "board").iterdir()] == [
        key.split("/")[1]]


def test_the_app_uses_s3_when_configured(migrated_database: str, s3: S3Server,
                                         s3_credentials: None) -> None:
    s3.create_bucket("tsudoi-app")
    app = make_app(migrated_database, **s3.app_config("tsudoi-app"))
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, S3Storage)
        key = new_key("board")
        storage.save(key, b"%PDF-1.7 test", "application/pdf")
    listed = s3.client().list_objects_v2(Bucket="tsudoi-app")["Contents"]
    assert [item["Key"] for item in listed] == [key]


def test_the_app_uses_a_folder_under_instance_by_default(migrated_database: str) -> None:
    app = make_app(migrated_database)
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, LocalStorage)
        assert storage.root == Path(app.instance_path) / "uploads"


@pytest.fixture
def app_with_local_storage(migrated_database: str, tmp_path: Path) -> Flask:
    return make_app(migrated_database, STORAGE_LOCAL_PATH=str(tmp_path / "uploads"))


def test_a_download_has_a_japanese_name_and_safe_headers(app_with_local_storage: Flask) -> None:
    with app_with_local_storage.test_request_context("/"):
        key = new_key("materials")
        get_storage().save(key, b"%PDF-1.7 slides", "application/pdf")
        response = send_stored_file(key, content_type="application/pdf",
                                    download_name="講演資料 第1部.pdf")
        response.direct_passthrough = False
        assert response.get_data() == b"%PDF-1.7 slides"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;")
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == "講演資料 第1部.pdf"
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert "sandbox" in response.headers["Content-Security-Policy"]


def test_a_public_image_is_inline_and_cacheable(app_with_local_storage: Flask) -> None:
    with app_with_local_storage.test_request_context("/"):
        key = new_key("logos")
        get_storage().save(key, b"\x89PNG", "image/png")
        response = send_stored_file(key, content_type="image/png", download_name="logo.png",
                                    inline=True, public=True)
        assert response.headers["Content-Disposition"].startswith("inline;")
        assert response.headers["Cache-Control"] == "public, max-age=3600"


def test_a_download_of_a_missing_file_is_404(app_with_local_storage: Flask) -> None:
    from werkzeug.exceptions import NotFound

    with app_with_local_storage.test_request_context("/"), pytest.raises(NotFound):
        send_stored_file(new_key("materials"), content_type="application/pdf",
                         download_name="x.pdf")
