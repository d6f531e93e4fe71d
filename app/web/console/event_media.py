"""The event's image and flyer: upload, describe, replace, remove (app/services/event_media.py)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Length

from app.extensions import db
from app.models import Event
from app.models.enums import MediaKind
from app.services import event_media as service
from app.services.errors import DomainError
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.downloads import send_stored_file


class MediaForm(FlaskForm):
    file = FileField()
    description = TextAreaField(validators=[Length(
        max=service.MAX_DESCRIPTION, message=_l("Please use at most %(max)d characters."))])
    submit = SubmitField(_l("Save"))


def _forms(posted: MediaKind | None = None) -> dict[MediaKind, MediaForm]:
    """One form per kind, told apart by their prefixes; only the posted one reads the request."""
    forms = {kind: MediaForm(prefix=kind.value) if kind is posted
             else MediaForm(prefix=kind.value, formdata=None) for kind in MediaKind}
    image, flyer = forms[MediaKind.IMAGE], forms[MediaKind.FLYER]
    image.file.label.text = _("Image file (JPEG, PNG, GIF or WebP)")
    image.description.label.text = _("Alternative text")
    image.description.description = _(
        "What the image shows, for people who cannot see it; screen readers read it aloud. "
        "For example: 「会場の東京区政会館と、展示パネルの前で話す来場者」.")
    image.submit.label.text = _("Save the image")
    flyer.file.label.text = _("Flyer (PDF)")
    flyer.description.label.text = _("What the flyer says")
    flyer.description.description = _(
        "A sentence or two for people who cannot read the PDF (a flyer is often a picture).")
    flyer.submit.label.text = _("Save the flyer")
    return forms


def _page(event: Event, forms: dict[MediaKind, MediaForm], *, error: Any = None,
          status: int = 200) -> ResponseReturnValue:
    for kind, form in forms.items():
        current = event.image if kind is MediaKind.IMAGE else event.flyer
        if current is not None and form.description.data is None:  # not the one posted
            form.description.data = current.description
    return render_template("console/events/media.html", event=event, forms=forms,
                           kinds=MediaKind, error=error, can_edit=True), status


@bp.get("/events/<int:event_id>/media")
def event_media(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    return _page(event, _forms())


def _kind(value: str) -> MediaKind:
    try:
        return MediaKind(value)
    except ValueError:
        abort(404)


@bp.post("/events/<int:event_id>/media/<kind>")
def save_event_media(event_id: int, kind: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    media_kind = _kind(kind)
    forms = _forms(posted=media_kind)
    form = forms[media_kind]
    valid = form.validate_on_submit()
    upload = form.file.data
    current = event.image if media_kind is MediaKind.IMAGE else event.flyer
    # Both missing pieces are named at once, not one per attempt.
    if not upload and current is None:
        form.file.errors = [*form.file.errors, _("Please choose a file.")]
        valid = False
    if not (form.description.data or "").strip():
        form.description.errors = [*form.description.errors,
                                   service.DESCRIPTION_MISSING[media_kind]]
        valid = False
    if not valid:
        return _page(event, forms, status=422)
    try:
        if upload:
            service.save(db.session, signed_in_user(), event.id, media_kind, service.Upload(
                filename=upload.filename or "", data=upload.read(),
                description=form.description.data or ""))
        else:
            service.describe(db.session, signed_in_user(), event.id, media_kind,
                             form.description.data or "")
    except DomainError as failure:
        db.session.rollback()
        target = getattr(form, failure.field or "", None)
        if target is None:
            return _page(event, forms, error=failure.message, status=409)
        target.errors = [*target.errors, failure.message]
        return _page(event, forms, status=422)
    flash(_("The image has been saved.") if media_kind is MediaKind.IMAGE
          else _("The flyer has been saved."), "success")
    return redirect(url_for("console.event_media", event_id=event.id))


@bp.post("/events/<int:event_id>/media/<kind>/delete")
def delete_event_media(event_id: int, kind: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    media_kind = _kind(kind)
    try:
        service.remove(db.session, signed_in_user(), event.id, media_kind)
    except DomainError as failure:
        flash(str(failure.message), "error")
    else:
        flash(_("The image has been removed.") if media_kind is MediaKind.IMAGE
              else _("The flyer has been removed."), "success")
    return redirect(url_for("console.event_media", event_id=event.id))


@bp.get("/events/<int:event_id>/media/file/<name>")
def event_media_file(event_id: int, name: str) -> ResponseReturnValue:
    """For the event's members, a draft's too (the preview shows them)."""
    event = event_or_abort(event_id)
    media = service.member_media(db.session, event.id, name)
    if media is None:
        abort(404)
    return send_stored_file(media.storage_key, content_type=media.content_type,
                            download_name=media.filename, inline=True)
