"""Uploads are judged by their bytes, not their names; images come back clean."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
from PIL import Image

from app.engines.uploads import (
    MAX_IMAGE_PIXELS,
    FileKind,
    RefusalReason,
    UploadRefused,
    check_upload,
    reencode_image,
)

ALL = frozenset(FileKind)
MB = 1024 * 1024
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def image_bytes(image_format: str, size: tuple[int, int] = (64, 48), mode: str = "RGB",
                exif: Image.Exif | None = None) -> bytes:
    output = io.BytesIO()
    image = Image.new(mode, size, (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30))
    options = {"exif": exif} if exif is not None else {}
    image.save(output, format=image_format, **options)
    return output.getvalue()


def office_package(main_part: str, extra: dict[str, bytes] | None = None) -> bytes:
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr(main_part, "<document/>")
        for name, data in (extra or {}).items():
            package.writestr(name, data)
    return output.getvalue()


def refusal(data: bytes, filename: str, allowed: frozenset[FileKind] = ALL,
            max_bytes: int = 8 * MB) -> UploadRefused:
    with pytest.raises(UploadRefused) as refused:
        check_upload(data, filename, allowed, max_bytes)
    return refused.value


@pytest.mark.parametrize(("data", "filename", "kind", "content_type", "extension"), [
    (PDF, "資料.PDF", FileKind.PDF, "application/pdf", "pdf"),
    (image_bytes("JPEG"), "photo.jpeg", FileKind.IMAGE, "image/jpeg", "jpg"),
    (image_bytes("PNG"), "logo.png", FileKind.IMAGE, "image/png", "png"),
    (image_bytes("GIF"), "anim.gif", FileKind.IMAGE, "image/gif", "gif"),
    (image_bytes("WEBP"), "pic.webp", FileKind.IMAGE, "image/webp", "webp"),
    (office_package("word/document.xml"), "案内.docx", FileKind.OFFICE,
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    (office_package("xl/workbook.xml"), "名簿.xlsx", FileKind.OFFICE,
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    (office_package("ppt/presentation.xml"), "slides.pptx", FileKind.OFFICE,
     "application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
    (bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504, "old.xls", FileKind.OFFICE,
     "application/vnd.ms-excel", "xls"),
])
def test_files_are_recognised_by_their_content(data: bytes, filename: str, kind: FileKind,
                                               content_type: str, extension: str) -> None:
    checked = check_upload(data, filename, ALL, 8 * MB)
    assert (checked.kind, checked.content_type, checked.extension) == (
        kind, content_type, extension)
    assert checked.data == data


@pytest.mark.parametrize(("data", "filename"), [
    (b"MZ\x90\x00" + b"\0" * 200, "invoice.pdf"),  # a Windows program
    (b"<!DOCTYPE html><script>alert(1)</script>", "photo.png"),  # a web page
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "logo.jpg"),
    (image_bytes("PNG"), "scan.pdf"),  # an image named as a PDF
    (image_bytes("PNG"), "photo.jpg"),  # a PNG named as a JPEG
    (PDF, "report.docx"),
    (office_package("xl/workbook.xml"), "letter.docx"),  # a spreadsheet named as a letter
])
def test_a_disguised_file_is_refused_as_misnamed(data: bytes, filename: str) -> None:
    assert refusal(data, filename).reason is RefusalReason.NAME_MISMATCH


@pytest.mark.parametrize(("data", "filename"), [
    (b"just some text", "notes.pdf"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "broken.png"),  # a PNG header, no image
    (b"PK\x03\x04 not really a zip", "broken.docx"),
    (office_package("other/part.xml"), "empty.docx"),  # a zip, but no document inside
])
def test_a_damaged_file_is_refused(data: bytes, filename: str) -> None:
    assert refusal(data, filename).reason is RefusalReason.DAMAGED


def test_a_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = office_package("word/document.xml", {"word/media/x.bin": b"\0" * (210 * MB)})
    assert len(bomb) < MB
    assert refusal(bomb, "bomb.docx").reason is RefusalReason.DAMAGED


@pytest.mark.parametrize("filename", ["run.exe", "page.html", "drawing.svg", "noextension",
                                      "archive.zip", "list.csv"])
def test_other_kinds_are_not_allowed(filename: str) -> None:
    assert refusal(PDF, filename).reason is RefusalReason.NOT_ALLOWED


def test_an_upload_takes_only_the_kinds_it_allows() -> None:
    images_only = frozenset({FileKind.IMAGE})
    assert refusal(PDF, "flyer.pdf", images_only).reason is RefusalReason.NOT_ALLOWED
    assert check_upload(image_bytes("PNG"), "logo.png", images_only, MB).kind is FileKind.IMAGE


def test_size_is_capped_and_empty_files_refused() -> None:
    too_large = refusal(PDF + b"\0" * 2000, "big.pdf", max_bytes=1000)
    assert (too_large.reason, too_large.limit) == (RefusalReason.TOO_LARGE, 1000)
    assert refusal(b"", "empty.pdf").reason is RefusalReason.EMPTY


def test_an_image_with_too_many_pixels_is_refused_before_decoding() -> None:
    # A PNG's header states its size; this one claims 50,000 × 50,000 pixels.
    png = image_bytes("PNG", size=(1, 1))
    header = b"IHDR" + (50_000).to_bytes(4, "big") * 2 + png[24:29]
    huge = png[:12] + header + zlib.crc32(header).to_bytes(4, "big") + png[33:]
    refused = refusal(huge, "huge.png")
    assert (refused.reason, refused.limit) == (RefusalReason.TOO_MANY_PIXELS, MAX_IMAGE_PIXELS)
    with pytest.raises(UploadRefused):
        reencode_image(huge)


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90° clockwise
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}  # GPS
    return exif


def test_reencoding_removes_exif_and_location_and_turns_the_photo_upright() -> None:
    photo = image_bytes("JPEG", size=(400, 300), exif=gps_exif())
    assert Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)  # it had a location

    clean = reencode_image(photo)
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.format == "JPEG"
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info
        assert image.size == (300, 400)  # the orientation was applied, then dropped
    assert (clean.content_type, clean.extension, clean.width, clean.height) == (
        "image/jpeg", "jpg", 300, 400)


def test_reencoding_caps_the_size_and_keeps_transparency() -> None:
    clean = reencode_image(image_bytes("PNG", size=(4000, 1000), mode="RGBA"), max_side=1000)
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.size == (1000, 250)


def test_reencoding_drops_what_hides_after_the_image() -> None:
    smuggled = image_bytes("PNG") + b"<script>alert(1)</script>"
    clean = reencode_image(smuggled)
    assert b"<script>" not in clean.data


def test_reencoding_refuses_what_is_not_an_image() -> None:
    with pytest.raises(UploadRefused) as refused:
        reencode_image(PDF)
    assert refused.value.reason is RefusalReason.DAMAGED
