"""The registrants of an event: list, detail, edit, cancel, move, add by hand, import, announce.

Every view loads the event first (404 without access, 403 for a viewer who tries a change),
then the registration within that event (404 for another event's), then calls one service.
Conflicts with the state of the event answer 409, input the organizer can fix 422.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app import geo
from app.extensions import db
from app.i18n import current_language, join_sentences
from app.models import Event, Registration
from app.models.enums import (
    AttendanceMode,
    MembershipRole,
    OrganizationType,
    RegistrationStatus,
)
from app.services import importing, permissions, registrants
from app.services.errors import DomainError, NotFound
from app.services.importing import ImportConflict, ImportMappingError
from app.services.registrants import PersonInput, PoolFull, RegistrantConflict
from app.services.registration import (
    EventFull,
    RegistrationClosed,
    RegistrationInput,
    waitlist_position,
)
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.console.registrant_forms import (
    STATUS_LABELS,
    AcceptImportForm,
    ActionForm,
    AnnounceForm,
    CancelForm,
    ConfirmSeatForm,
    ImportUploadForm,
    RegistrantSearchForm,
    edit_form_class,
    mapping_form_class,
    new_form_class,
    prepare_mapping_defaults,
    prepare_person_choices,
)
from app.web.public.forms import (
    MODE_LABELS,
    ORGANIZATION_TYPE_LABELS,
    prepare_choices,
    question_answers,
    ranked_preferences,
    validate_distinct_preferences,
)

_CONFLICTS = (RegistrantConflict, ImportConflict, EventFull, RegistrationClosed)
_LIST_ARGS = ("q", "status", "mode", "prefecture", "organization_type", "group", "sort",
              "per_page")


def _status(error: DomainError) -> int:
    return 409 if isinstance(error, _CONFLICTS) else 422


def _can_edit(event: Event) -> bool:
    return permissions.event_role(db.session, signed_in_user(), event.id) is (
        MembershipRole.ORGANIZER)


def _group_scope(event: Event) -> int | None:
    """A viewer limited to one breakout group (a facilitator) sees only that group's people.

    Until groups are assigned, a group's people are those who ranked it first.
    """
    user = signed_in_user()
    if user.is_admin:
        return None
    membership = permissions.membership(db.session, user, event.id)
    if membership is None or membership.role is not MembershipRole.VIEWER:
        return None
    return membership.breakout_group_id


def _registration_or_404(event: Event, registration_id: int) -> Registration:
    """The registration if it belongs to `event` and the user's scope; 404 otherwise."""
    try:
        registration = registrants.get_registration(db.session, event.id, registration_id)
    except NotFound:
        abort(404)
    group = _group_scope(event)
    if group is not None and (not registration.preferences
                              or registration.preferences[0].group_id != group):
        abort(404)
    return registration


def _render(template: str, event: Event, status: int = 200, **context: Any
            ) -> ResponseReturnValue:
    return render_template(
        f"console/registrants/{template}", event=event, can_edit=_can_edit(event),
        status_labels=STATUS_LABELS, mode_labels=MODE_LABELS,
        organization_labels=ORGANIZATION_TYPE_LABELS, geo=geo, **context), status


def _to_detail(message: str, event: Event, registration_id: int) -> ResponseReturnValue:
    flash(message, "success")
    return redirect(url_for("console.registrant", event_id=event.id,
                            registration_id=registration_id))


def _place_message(status: RegistrationStatus) -> str:
    return {
        RegistrationStatus.CONFIRMED: _("The registration has been added with a confirmed "
                                        "seat."),
        RegistrationStatus.WAITLISTED: _("The registration has been added to the waiting list: "
                                         "every seat is taken."),
        RegistrationStatus.LOTTERY_PENDING: _("The registration has been entered in the "
                                              "lottery."),
    }[status]


# --- List and detail ------------------------------------------------------------------------


@bp.get("/events/<int:event_id>/registrants")
def registrants_list(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    form = RegistrantSearchForm(formdata=request.args)
    form.prepare_filters(event, current_language())
    group = _group_scope(event)
    if not form.validate():
        return _render("list.html", event, 422, form=form, page=None, group_scope=group,
                       counts={}, page_url=None, announce_url=None)
    filters = form.filters()
    if group is not None:
        filters = replace(filters, first_choice_group_id=group)
    page = registrants.search_registrations(
        db.session, event.id, form.q.data or "", filters, form.sort.data or "",
        request.args.get("page", 1, type=int),
        int(form.per_page.data or registrants.DEFAULT_PER_PAGE))
    args: dict[str, Any] = {name: request.args[name] for name in _LIST_ARGS
                            if request.args.get(name)}

    # The announcement goes by the filters, not by the free-text search.
    announce_args: dict[str, Any] = filters.as_args()

    def page_url(number: int) -> str:
        return url_for("console.registrants_list", event_id=event.id, **args, page=number)

    return _render(
        "list.html", event, form=form, page=page, group_scope=group, page_url=page_url,
        counts=registrants.status_counts(db.session, event.id),
        groups={g.id: g.name for g in event.breakout_groups},
        announce_url=url_for("console.announce", event_id=event.id, **announce_args),
    )


def _detail_page(event: Event, registration: Registration, status: int = 200,
                 error: Any = None) -> ResponseReturnValue:
    return _render(
        "detail.html", event, status, registration=registration, error=error,
        position=waitlist_position(db.session, registration),
        history=registrants.history(db.session, registration),
        pool=event.pool_for(registration.attendance_mode),
        action_form=ActionForm(), confirm_form=ConfirmSeatForm(),
    )


@bp.get("/events/<int:event_id>/registrants/<int:registration_id>")
def registrant(event_id: int, registration_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id)
    return _detail_page(event, _registration_or_404(event, registration_id))


# --- Changes to one registration ------------------------------------------------------------


def _initial(registration: Registration) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": registration.name,
        "furigana": registration.furigana,
        "email": registration.email,
        "organization_type": registration.organization_type.value,
        "organization_name": registration.organization_name,
        "prefecture": registration.prefecture_code,
        "municipality": registration.municipality_code,
    }
    data.update({f"q_{key}": value for key, value in registration.answers.items()})
    return data


@bp.route("/events/<int:event_id>/registrants/<int:registration_id>/edit",
          methods=["GET", "POST"])
def edit_registrant(event_id: int, registration_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    registration = _registration_or_404(event, registration_id)
    form = edit_form_class(event, current_language())(data=_initial(registration))
    prepare_person_choices(form, current_language())
    if request.method == "POST" and form.refresh_municipalities.data:
        form.municipality.errors = []
        return _render("edit.html", event, form=form, registration=registration,
                       focus="municipality")
    if form.validate_on_submit():
        person = PersonInput(
            name=form.name.data or "", furigana=form.furigana.data or "",
            email=form.email.data or "", organization_name=form.organization_name.data or "",
            organization_type=OrganizationType(form.organization_type.data),
            prefecture_code=form.prefecture.data or "",
            municipality_code=form.municipality.data or "")
        try:
            registrants.edit_registration(db.session, signed_in_user(), registration.id,
                                          person, question_answers(form, event))
        except DomainError as error:
            target = getattr(form, error.field or "", None)
            if target is None:
                return _render("edit.html", event, _status(error), form=form,
                               registration=registration, error=error.message)
            target.errors.append(error.message)
            return _render("edit.html", event, _status(error), form=form,
                           registration=registration)
        return _to_detail(_("The registration has been saved."), event, registration.id)
    return _render("edit.html", event, 422 if form.errors else 200, form=form,
                   registration=registration)


@bp.route("/events/<int:event_id>/registrants/<int:registration_id>/cancel",
          methods=["GET", "POST"])
def cancel_registrant(event_id: int, registration_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    registration = _registration_or_404(event, registration_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            promoted = registrants.cancel_by_organizer(db.session, signed_in_user(),
                                                       registration.id, form.reason.data or "")
        except DomainError as error:
            return _render("cancel.html", event, _status(error), form=form,
                           registration=registration, error=error.message)
        message = _("The registration has been cancelled and the person told.")
        if promoted is not None:
            message = join_sentences(message, _(
                "Their seat has gone to %(name)s, the first on the waiting list.",
                name=promoted.name))
        return _to_detail(message, event, registration.id)
    return _render("cancel.html", event, 422 if form.errors else 200, form=form,
                   registration=registration)


@bp.post("/events/<int:event_id>/registrants/<int:registration_id>/waitlist")
def waitlist_registrant(event_id: int, registration_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    registration = _registration_or_404(event, registration_id)
    try:
        promoted = registrants.move_to_waitlist(db.session, signed_in_user(), registration.id)
    except DomainError as error:
        return _detail_page(event, registration, _status(error), error.message)
    message = _("The registration has been moved to the end of the waiting list.")
    if promoted is not None:
        message = join_sentences(message, _(
            "Their seat has gone to %(name)s, the first on the waiting list.",
            name=promoted.name))
    return _to_detail(message, event, registration.id)


@bp.post("/events/<int:event_id>/registrants/<int:registration_id>/confirm")
def confirm_registrant(event_id: int, registration_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    registration = _registration_or_404(event, registration_id)
    form = ConfirmSeatForm()
    try:
        raised = registrants.confirm_from_waitlist(db.session, signed_in_user(),
                                                   registration.id, bool(form.over_capacity.data))
    except PoolFull as error:
        # Over capacity only by an explicit, separate choice: ask on a page of its own.
        return _render("confirm_over_capacity.html", event, 409, form=form,
                       registration=registration, error=error.message,
                       pool=event.pool_for(registration.attendance_mode))
    except DomainError as error:
        return _detail_page(event, registration, _status(error), error.message)
    message = _("The registration is confirmed and the person told.")
    if raised:
        message = join_sentences(message, _("One seat has been added to the capacity for them."))
    return _to_detail(message, event, registration.id)


# --- Adding by hand -------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/registrants/new", methods=["GET", "POST"])
def new_registrant(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    language = current_language()
    form = new_form_class(event, language)()
    prepare_choices(form, event, language)
    if request.method == "POST" and form.refresh_municipalities.data:
        form.municipality.errors = []
        return _render("new.html", event, form=form, focus="municipality")
    if request.method == "POST":
        valid = form.validate()
        valid = validate_distinct_preferences(form) and valid
        if valid:
            data = RegistrationInput(
                attendance_mode=AttendanceMode(form.attendance_mode.data),
                name=form.name.data or "", furigana=form.furigana.data or "",
                email=form.email.data or "",
                organization_name=form.organization_name.data or "",
                organization_type=OrganizationType(form.organization_type.data),
                prefecture_code=form.prefecture.data or "",
                municipality_code=form.municipality.data or "",
                language=form.language.data or "ja",
                answers=question_answers(form, event),
                preferences=ranked_preferences(form, event),
            )
            try:
                registration = registrants.add_registration_by_hand(
                    db.session, signed_in_user(), event.id, data, source=form.source.data or "",
                    note=form.source_note.data or "", notify=bool(form.notify.data))
            except DomainError as error:
                target = getattr(form, error.field or "", None)
                if target is None:
                    return _render("new.html", event, _status(error), form=form,
                                   error=error.message)
                target.errors.append(error.message)
                return _render("new.html", event, _status(error), form=form)
            return _to_detail(_place_message(registration.status), event,
                              registration.registration_id)
        return _render("new.html", event, 422, form=form)
    return _render("new.html", event, form=form)


# --- Import ---------------------------------------------------------------------------------


def _batch_page(event: Event, token: str) -> importing.StagedFile:
    try:
        return importing.open_batch(db.session, signed_in_user(), event.id, token)
    except NotFound:
        abort(404)


@bp.route("/events/<int:event_id>/registrants/import", methods=["GET", "POST"])
def import_registrants(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = ImportUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            batch = importing.start_import(
                db.session, signed_in_user(), event.id, upload.filename or "",
                upload.read(importing.MAX_IMPORT_BYTES + 1))
        except DomainError as error:
            form.file.errors.append(error.message)
            return _render("import_upload.html", event, _status(error), form=form)
        return redirect(url_for("console.import_mapping", event_id=event.id, token=batch.token))
    return _render("import_upload.html", event, 422 if form.errors else 200, form=form,
                   max_rows=importing.MAX_IMPORT_ROWS)


@bp.route("/events/<int:event_id>/registrants/import/<token>", methods=["GET", "POST"])
def import_mapping(event_id: int, token: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    staged = _batch_page(event, token)
    settings = staged.batch.settings
    initial: dict[str, Any] = {f"col_{key}": str(index)
                               for key, index in settings.get("columns", {}).items()}
    initial.update({f"default_{key}": value
                    for key, value in settings.get("defaults", {}).items()})
    form = mapping_form_class(staged.fields, staged.table.column_labels())(data=initial)
    prepare_mapping_defaults(form, event)
    if form.validate_on_submit():
        try:
            importing.save_mapping(db.session, signed_in_user(), event.id, token,
                                   form.columns(), form.defaults())
        except ImportMappingError as error:
            for key, message in error.errors.items():
                name = key if key.startswith("default_") else f"col_{key}"
                form[name].errors.append(message)
            return _render("import_mapping.html", event, 422, form=form, staged=staged)
        return redirect(url_for("console.import_preview", event_id=event.id, token=token))
    return _render("import_mapping.html", event, 422 if form.errors else 200, form=form,
                   staged=staged)


def _preview_page(event: Event, token: str, form: AcceptImportForm | None = None,
                  status: int = 200, error: Any = None) -> ResponseReturnValue:
    try:
        preview = importing.preview_import(db.session, signed_in_user(), event.id, token)
    except NotFound:
        abort(404)
    except ImportMappingError:
        return redirect(url_for("console.import_mapping", event_id=event.id, token=token))
    if form is None:
        form = AcceptImportForm(data={"expected": str(len(preview.valid))})
    return _render("import_preview.html", event, status, preview=preview, form=form,
                   discard_form=ActionForm(), error=error)


@bp.get("/events/<int:event_id>/registrants/import/<token>/preview")
def import_preview(event_id: int, token: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    return _preview_page(event, token)


@bp.post("/events/<int:event_id>/registrants/import/<token>/accept")
def import_accept(event_id: int, token: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    form = AcceptImportForm()
    if not form.validate_on_submit():
        return _preview_page(event, token, form, 422)
    expected = form.expected.data or ""
    try:
        outcome = importing.accept_import(
            db.session, signed_in_user(), event.id, token, notify=form.notify.data == "yes",
            expected=int(expected) if expected.isdigit() else None)
    except NotFound:
        abort(404)
    except DomainError as error:
        return _preview_page(event, token, form, _status(error), error.message)
    flash(_("Imported: %(count)d (confirmed: %(confirmed)d, waiting list: %(waitlisted)d, "
            "lottery: %(lottery)d). Rows with problems left out: %(skipped)d.",
            count=outcome.imported, confirmed=outcome.confirmed,
            waitlisted=outcome.waitlisted, lottery=outcome.lottery, skipped=outcome.skipped),
          "success")
    return redirect(url_for("console.registrants_list", event_id=event.id))


@bp.post("/events/<int:event_id>/registrants/import/<token>/discard")
def import_discard(event_id: int, token: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    try:
        importing.discard_import(db.session, signed_in_user(), event.id, token)
    except NotFound:
        abort(404)
    flash(_("The import has been discarded; nothing was imported."), "success")
    return redirect(url_for("console.registrants_list", event_id=event.id))


# --- Announcement ---------------------------------------------------------------------------


@bp.route("/events/<int:event_id>/registrants/announce", methods=["GET", "POST"])
def announce(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    posted = request.method == "POST"
    form = AnnounceForm() if posted else AnnounceForm(formdata=request.args)
    form.prepare_filters(event, current_language(), announcement=True)
    allowed = {choice.value for choice in form.status.choices or []}
    if not posted:
        if form.status.data not in allowed:
            form.status.data = registrants.STATUS_ACTIVE
        return _render("announce.html", event, form=form)
    if form.change.data or not form.validate_on_submit():
        return _render("announce.html", event, 422 if form.errors else 200, form=form)
    filters = form.filters()
    if form.send.data:
        expected = form.expected.data or ""
        try:
            count = registrants.send_announcement(
                db.session, signed_in_user(), event.id, filters, form.subject.data or "",
                form.body.data or "", expected=int(expected) if expected.isdigit() else None)
        except DomainError as error:
            return _render("announce.html", event, _status(error), form=form,
                           error=error.message)
        flash(_("The announcement has been queued. Recipients: %(count)d.", count=count),
              "success")
        return redirect(url_for("console.registrants_list", event_id=event.id))
    count = registrants.count_recipients(db.session, event.id, filters)
    if not count:
        return _render("announce.html", event, 422, form=form,
                       error=_("No registrants match these filters."))
    form.expected.data = str(count)
    return _render("announce_confirm.html", event, form=form, count=count)
