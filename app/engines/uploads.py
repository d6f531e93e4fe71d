"""What an uploaded file really is, decided from its bytes; images re-encoded clean.

A file's name and the browser's Content-Type are the uploader's claims. Before Tsudoi keeps
a file it checks the content: a PDF must start as one, an image must decode, an Office
document must be the zip package (or the older OLE2 file) of its kind, and the name's
extension must agree with what the bytes are — so a program renamed `.pdf` or a web page
renamed `.png` is refused. Images are then decoded and saved again (`reencode_image`): that
drops EXIF (camera, GPS location) and anything hidden after the pixels, and caps their size.

Pure: no Flask; refusals carry a code and the limit, and callers word the message.
"""

from __future__ import annotations

import enum
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image, ImageOps, UnidentifiedImageError


class FileKind(enum.Enum):
    PDF = "pdf"
    IMAGE = "image"
    OFFICE = "office"  # Word, Excel, PowerPoint: today's (OOXML) and the older formats


class RefusalReason(enum.Enum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    NOT_ALLOWED = "not_allowed"  # a kind this upload does not take, or an unknown one
    NAME_MISMATCH = "name_mismatch"  # the extension says one kind, the content another
    DAMAGED = "damaged"  # claims a kind but does not read as one
    TOO_MANY_PIXELS = "too_many_pixels"


class UploadRefused(ValueError):
    def __init__(self, reason: RefusalReason, limit: int | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.limit = limit


@dataclass(frozen=True)
class CheckedFile:
    data: bytes
    kind: FileKind
    content_type: str
    extension: str  # lower case, without the dot, as the content says (".jpeg" → "jpg")


_IMAGE_FORMATS = {  # Pillow's format name → (content type, extension)
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
_IMAGE_EXTENSIONS = {"jpg": "jpg", "jpeg": "jpg", "png": "png", "gif": "gif", "webp": "webp"}
# OOXML: the part of the package that each kind must contain.
_OOXML = {
    "docx": ("word/document.xml",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xl/workbook.xml",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": ("ppt/presentation.xml",
             "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
}
_OLE2 = {"doc": "application/msword", "xls": "application/vnd.ms-excel",
         "ppt": "application/vnd.ms-powerpoint"}
_OLE2_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")
# A zip that inflates beyond this is refused before anyone opens it (a "zip bomb").
_MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
# Pillow refuses images above this many pixels before decoding them (decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000


def check_upload(data: bytes, filename: str, allowed: frozenset[FileKind] | set[FileKind],
                 max_bytes: int) -> CheckedFile:
    """The file's kind and type, from its content; raises UploadRefused."""
    if not data:
        raise UploadRefused(RefusalReason.EMPTY)
    if len(data) > max_bytes:
        raise UploadRefused(RefusalReason.TOO_LARGE, max_bytes)
    extension = PurePath(filename).suffix.lower().lstrip(".")
    if extension == "pdf":
        checked = _check_pdf(data)
    elif extension in _IMAGE_EXTENSIONS:
        checked = _check_image(data, _IMAGE_EXTENSIONS[extension])
    elif extension in _OOXML:
        checked = _check_ooxml(data, extension)
    elif extension in _OLE2:
        checked = _check_ole2(data, extension)
    else:
        raise UploadRefused(RefusalReason.NOT_ALLOWED)
    if checked.kind not in allowed:
        raise UploadRefused(RefusalReason.NOT_ALLOWED)
    return checked


def _check_pdf(data: bytes) -> CheckedFile:
    # The header may follow a few bytes of junk (allowed by readers), never more.
    if b"%PDF-" not in data[:1024]:
        raise UploadRefused(_mismatch_or_damaged(data))
    return CheckedFile(data, FileKind.PDF, "application/pdf", "pdf")


def _check_image(data: bytes, extension: str) -> CheckedFile:
    image_format = _image_format(data)
    if image_format is None:
        raise UploadRefused(_mismatch_or_damaged(data))
    content_type, actual_extension = _IMAGE_FORMATS[image_format]
    if actual_extension != extension:
        raise UploadRefused(RefusalReason.NAME_MISMATCH)
    return CheckedFile(data, FileKind.IMAGE, content_type, actual_extension)


def _image_format(data: bytes) -> str | None:
    try:
        with _opened_image(data) as image:
            image.verify()
            image_format = image.format
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return image_format if image_format in _IMAGE_FORMATS else None


def _opened_image(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise UploadRefused(RefusalReason.TOO_MANY_PIXELS, MAX_IMAGE_PIXELS) from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        image.close()
        raise UploadRefused(RefusalReason.TOO_MANY_PIXELS, MAX_IMAGE_PIXELS)
    return image


def _check_ooxml(data: bytes, extension: str) -> CheckedFile:
    required_part, content_type = _OOXML[extension]
    if not data.startswith(b"PK\x03\x04"):
        raise UploadRefused(_mismatch_or_damaged(data))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            members = package.infolist()
            names = {member.filename for member in members}
            unzipped = sum(member.file_size for member in members)
    except (zipfile.BadZipFile, ValueError):
        raise UploadRefused(RefusalReason.DAMAGED) from None
    if unzipped > _MAX_UNZIPPED_BYTES:
        raise UploadRefused(RefusalReason.DAMAGED)
    if "[Content_Types].xml" not in names:
        raise UploadRefused(RefusalReason.DAMAGED)
    if required_part not in names:
        other = any(part in names for part, _type in _OOXML.values())
        raise UploadRefused(RefusalReason.NAME_MISMATCH if other else RefusalReason.DAMAGED)
    return CheckedFile(data, FileKind.OFFICE, content_type, extension)


def _check_ole2(data: bytes, extension: str) -> CheckedFile:
    if not data.startswith(_OLE2_SIGNATURE):
        raise UploadRefused(_mismatch_or_damaged(data))
    return CheckedFile(data, FileKind.OFFICE, _OLE2[extension], extension)


def _mismatch_or_damaged(data: bytes) -> RefusalReason:
    """A file that is recognisably something else was misnamed; otherwise it is damaged."""
    recognisable = (
        b"%PDF-" in data[:1024]
        or data.startswith((b"PK\x03\x04", _OLE2_SIGNATURE, b"MZ", b"\x7fELF", b"#!"))
        or data.lstrip()[:15].lower().startswith((b"<!doctype", b"<html", b"<svg", b"<?xml"))
        or _image_format(data) is not None
    )
    return RefusalReason.NAME_MISMATCH if recognisable else RefusalReason.DAMAGED


@dataclass(frozen=True)
class ReencodedImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def reencode_image(data: bytes, max_side: int = 2048) -> ReencodedImage:
    """The image decoded and saved again, upright, at most `max_side` pixels on its longer
    side, with no metadata: JPEG for photographs, PNG when it has transparency. Animated
    images keep their first frame. Raises UploadRefused for what does not decode."""
    try:
        with _opened_image(data) as opened:
            opened.seek(0)
            upright = ImageOps.exif_transpose(opened)
            has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
                upright.mode == "P" and "transparency" in upright.info)
            image = upright.convert("RGBA" if has_alpha else "RGB")
    except UploadRefused:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadRefused(RefusalReason.DAMAGED) from None
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    output = io.BytesIO()
    # A new image from converted pixels carries no EXIF, ICC or text chunks unless given.
    if has_alpha:
        image.save(output, format="PNG", optimize=True)
        content_type, extension = "image/png", "png"
    else:
        image.save(output, format="JPEG", quality=85, optimize=True)
        content_type, extension = "image/jpeg", "jpg"
    return ReencodedImage(output.getvalue(), content_type, extension, image.width, image.height)
