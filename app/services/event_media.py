"""An event's image and flyer: uploaded by its organisers, shown on its public page and card.

Each upload is judged by its content (app/engines/uploads.py): the image must decode as one and
is saved again without its metadata (a photo's GPS position, the camera) at a sensible size;
the flyer must be a PDF. Its words are required too: the image's alternative text, and what
the flyer says, for people who cannot see them (WCAG 1.1.1).

The bytes go to storage before the row that points to them is committed; if the commit fails
they are deleted again. A replaced or removed file is deleted from storage after the commit,
so the page never points at a file that is gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePath

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.database import SessionLike, write_transaction
from app.engines.uploads import (
    FileKind,
    RefusalReason,
    UploadRefused,
    check_upload,
    reencode_image,
)
from app.models import Event, EventMedia, User
from app.models.enums import EventStatus, MediaKind
from app.services.audit import record
from app.services.errors import DomainError
from app.services.permissions import load_event
from app.storage import get_storage, new_key

log = logging.getLogger(__name__)

# Images are shown at most about 1200 px wide (twice that for sharp phone screens).
IMAGE_MAX_SIDE = 2400
MAX_DESCRIPTION = 500

MESSAGES = {
    RefusalReason.EMPTY: _l("The file is empty."),
    RefusalReason.NAME_MISMATCH: _l("The file's name does not match what it contains."),
    RefusalReason.DAMAGED: _l("The file cannot be read. Please save it again and upload it."),
    RefusalReason.TOO_MANY_PIXELS: _l("The image is too large in pixels. Please make it "
                                      "smaller and upload it again."),
}
NOT_ALLOWED = {
    MediaKind.IMAGE: _l("Please upload a JPEG, PNG, GIF or WebP image."),
    MediaKind.FLYER: _l("Please upload the flyer as a PDF file."),
}
DESCRIPTION_MISSING = {
    MediaKind.IMAGE: _l("Please describe the image for people who cannot see it."),
    MediaKind.FLYER: _l("Please write in a sentence or two what the flyer says."),
}


class EventMediaError(DomainError):
    code = "event_media"


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes
    description: str


def _event_for_change(session: SessionLike, actor: User, event_id: int) -> Event:
    event = load_event(session, actor, event_id, edit=True)
    if event.status is EventStatus.CANCELLED:
        raise EventMediaError(_l("This event has been cancelled and can no longer be changed."))
    return event


def _description(kind: MediaKind, text: str) -> str:
    description = " ".join(text.split())
    if not description:
        raise EventMediaError(DESCRIPTION_MISSING[kind], field="description")
    if len(description) > MAX_DESCRIPTION:
        raise EventMediaError(_l("Please use at most %(max)d characters.", max=MAX_DESCRIPTION),
                              field="description")
    return description


def _checked(kind: MediaKind, upload: Upload) -> tuple[bytes, str, int | None, int | None]:
    """The bytes to keep, their type, and an image's size in pixels."""
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    allowed = {MediaKind.IMAGE: {FileKind.IMAGE}, MediaKind.FLYER: {FileKind.PDF}}[kind]
    try:
        checked = check_upload(upload.data, upload.filename, allowed, limit)
        if kind is MediaKind.FLYER:
            return checked.data, checked.content_type, None, None
        image = reencode_image(checked.data, max_side=IMAGE_MAX_SIDE)
    except UploadRefused as refusal:
        if refusal.reason is RefusalReason.NOT_ALLOWED:
            message = NOT_ALLOWED[kind]
        elif refusal.reason is RefusalReason.TOO_LARGE:
            megabytes = limit / 1024 / 1024
            size = f"{megabytes:g} MB" if megabytes >= 1 else f"{limit / 1024:g} KB"
            message = _l("The file is larger than %(size)s.", size=size)
        else:
            message = MESSAGES[refusal.reason]
        raise EventMediaError(message, field="file") from refusal
    return image.data, image.content_type, image.width, image.height


def _download_name(kind: MediaKind, filename: str, content_type: str) -> str:
    """The organiser's name for the file (without any folder), with the extension its
    content has: an image saved again as JPEG is no longer `photo.png`."""
    stem = PurePath(filename.replace("\\", "/")).stem.strip() or kind.value
    extension = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}.get(
        content_type, "bin")
    return f"{stem[:150]}.{extension}"


def save(session: SessionLike, actor: User, event_id: int, kind: MediaKind,
         upload: Upload) -> EventMedia:
    """The event's image or flyer, replacing the one it had."""
    description = _description(kind, upload.description)
    data, content_type, width, height = _checked(kind, upload)
    storage = get_storage()
    key = new_key(STORAGE_AREA)
    storage.save(key, data, content_type)
    replaced: str | None = None
    try:
        with write_transaction(session):
            event = _event_for_change(session, actor, event_id)
            old = _current(session, event.id, kind)
            if old is not None:
                replaced = old.storage_key
                event.media.remove(old)
                session.flush()  # the old row goes first: one of each kind per event
            media = EventMedia(kind=kind, storage_key=key, content_type=content_type,
                               filename=_download_name(kind, upload.filename, content_type),
                               description=description, size=len(data), width=width,
                               height=height)
            event.media.append(media)
            session.flush()
            record(session, actor, f"media.{kind.value}", media, event_id=event.id,
                   details={"size": len(data), "replaced": replaced is not None})
    except BaseException:
        storage.delete(key)
        raise
    if replaced is not None:
        _forget(replaced)
    return media


def describe(session: SessionLike, actor: User, event_id: int, kind: MediaKind,
             text: str) -> EventMedia:
    """New words for the image or flyer the event has, without uploading it again."""
    description = _description(kind, text)
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        media = _current(session, event.id, kind)
        if media is None:
            raise EventMediaError(_l("There is no such file for this event any more."))
        media.description = description  # moves event.updated_at (app/models/event.py)
        record(session, actor, f"media.{kind.value}_describe", media, event_id=event.id)
    return media


def remove(session: SessionLike, actor: User, event_id: int, kind: MediaKind) -> None:
    with write_transaction(session):
        event = _event_for_change(session, actor, event_id)
        media = _current(session, event.id, kind)
        if media is None:
            return
        key = media.storage_key
        event.media.remove(media)
        record(session, actor, f"media.{kind.value}_remove", media, event_id=event.id)
    _forget(key)


def _current(session: SessionLike, event_id: int, kind: MediaKind) -> EventMedia | None:
    return session.scalar(select(EventMedia).where(EventMedia.event_id == event_id,
                                                   EventMedia.kind == kind))


def _forget(key: str) -> None:
    # The row is gone; a file left behind is only wasted space, never shown to anyone.
    try:
        get_storage().delete(key)
    except Exception:
        log.exception("could not delete a replaced event file from storage")


STORAGE_AREA = "events"


def file_name(media: EventMedia) -> str:
    """The file's part of its address: its storage key's random part, new with every upload
    (a row's id may be reused once deleted), so no cache ever shows a replaced file."""
    return media.storage_key.removeprefix(f"{STORAGE_AREA}/")


def public_media(session: SessionLike, slug: str, name: str) -> EventMedia | None:
    """A file of a published (or cancelled) event, for anyone; None for a draft's."""
    return session.scalar(
        select(EventMedia).join(Event, Event.id == EventMedia.event_id)
        .where(Event.slug == slug, EventMedia.storage_key == f"{STORAGE_AREA}/{name}",
               Event.status != EventStatus.DRAFT))


def member_media(session: SessionLike, event_id: int, name: str) -> EventMedia | None:
    return session.scalar(select(EventMedia).where(
        EventMedia.event_id == event_id, EventMedia.storage_key == f"{STORAGE_AREA}/{name}"))
