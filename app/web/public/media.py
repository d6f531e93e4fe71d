"""Files the public pages show: an event's image and flyer, and the site's icon."""

from __future__ import annotations

from flask import abort, current_app, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue

from app.extensions import db
from app.models import Event, EventMedia
from app.services.event_media import file_name, public_media
from app.web.downloads import send_stored_file
from app.web.public import bp


def event_media_url(event: Event, media: EventMedia) -> str:
    """Where a page shows the file: the public address, or the console's for a preview (a
    draft's files are not public yet). The address changes with every new upload, so a
    cached copy of an old file is never shown."""
    if request.blueprint == "console":
        return url_for("console.event_media_file", event_id=event.id, name=file_name(media))
    return url_for("public.event_media", slug=event.slug, name=file_name(media))


bp.add_app_template_global(event_media_url, "event_media_url")


@bp.get("/events/<slug>/media/<name>")
def event_media(slug: str, name: str) -> ResponseReturnValue:
    media = public_media(db.session, slug, name)
    if media is None:
        abort(404)
    return send_stored_file(media.storage_key, content_type=media.content_type,
                            download_name=media.filename, inline=True, public=True)


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """Browsers ask for it on every site whatever the pages link to; answer, not 404."""
    static = current_app.static_folder
    assert static is not None
    return send_from_directory(static, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=7 * 24 * 3600)
