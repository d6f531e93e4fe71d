"""Downloads for an event's organizers: participant list, attendance list, group rosters and
a summary, as XLSX or CSV (UTF-8 with BOM, or Shift_JIS).

The export page is a GET form: choosing the columns and checking the export (row count,
and for Shift_JIS the characters it cannot hold) changes nothing, so it needs no CSRF
token and its result is a link that can be opened again. The download itself is recorded
in the audit log by the service, then streamed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Any

from flask import Response, abort, render_template, request, stream_with_context, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, RadioField

from app.extensions import db
from app.models import Event
from app.services import exports as service
from app.services.errors import DomainError
from app.web.console import bp
from app.web.console.access import event_or_abort, signed_in_user
from app.web.public.forms import MultiCheckboxField, options

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPES = {"utf-8-sig": "text/csv; charset=utf-8", "cp932": "text/csv; charset=Windows-31J"}

KIND_LABELS = {
    service.ExportKind.PARTICIPANTS: _l("Participant list"),
    service.ExportKind.ATTENDANCE: _l("Attendance list"),
    service.ExportKind.ROSTERS: _l("Group rosters"),
    service.ExportKind.SUMMARY: _l("Summary"),
}


class ExportForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    kind = HiddenField()
    check = HiddenField(default="1")
    fmt = RadioField(_l("File type"), default="xlsx", choices=options([
        ("xlsx", _l("Excel workbook (XLSX): typed columns, frozen header")),
        ("csv", _l("CSV")),
    ]))
    encoding = RadioField(_l("Character encoding of the CSV"), default="utf-8-sig",
                          choices=options([
                              ("utf-8-sig", _l("UTF-8 with BOM (Excel opens it correctly)")),
                              ("cp932", _l("Shift_JIS (CP932), for older tools")),
                          ]))
    columns = MultiCheckboxField(_l("Columns"))
    personal = MultiCheckboxField(
        _l("Personal data"),
        description=_l("Only tick these if you need them, and keep the file as your rules on "
                       "personal information require."))


def _kind(value: str | None) -> service.ExportKind:
    try:
        return service.ExportKind(value or service.ExportKind.PARTICIPANTS.value)
    except ValueError:
        abort(404)


def _form(event: Event, rounds: list[int], kind: service.ExportKind,
          formdata: MultiDict[str, str] | None) -> ExportForm:
    columns = service.columns_for(event, rounds)
    defaults = service.default_columns(event, kind, rounds)
    form = ExportForm(formdata=formdata, data={
        "kind": kind.value, "columns": [k for k in defaults if k not in service.PERSONAL],
        "personal": []})
    form.columns.choices = options((c.key, c.title) for c in columns if not c.personal)
    form.personal.choices = options((c.key, c.title) for c in columns if c.personal)
    return form


def _page(event: Event, kind: service.ExportKind, form: ExportForm, *,
          ready: dict[str, Any] | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("console/exports/index.html", event=event, kind=kind, form=form,
                           kinds=KIND_LABELS, ready=ready, can_edit=True), status


def _report_error(form: ExportForm, error: DomainError) -> None:
    field = form.encoding if error.field == "encoding" else form.columns
    field.errors = [*field.errors, error.message]


@bp.get("/events/<int:event_id>/exports")
def exports(event_id: int) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    kind = _kind(request.args.get("kind"))
    rounds = service.assignment_rounds(db.session, event.id)
    if "check" not in request.args:
        return _page(event, kind, _form(event, rounds, kind, None))
    form = _form(event, rounds, kind, request.args)
    if not form.validate():
        return _page(event, kind, form, status=422)
    try:
        checked = service.check_request(event, rounds, kind, form.fmt.data,
                                        form.encoding.data,
                                        [*form.columns.data, *form.personal.data])
    except DomainError as error:
        _report_error(form, error)
        return _page(event, kind, form, status=422)
    rows, replacements = service.preview_export(db.session, event, checked)
    link = url_for("console.export_download", event_id=event.id, kind=kind.value,
                   fmt=checked.fmt, encoding=checked.encoding or None,
                   columns=",".join(checked.columns) or None)
    return _page(event, kind, form, ready={
        "rows": rows, "replacements": replacements, "link": link,
        "personal": [c for c in checked.columns if c in service.PERSONAL]})


@bp.get("/events/<int:event_id>/exports/<kind>.<fmt>")
def export_download(event_id: int, kind: str, fmt: str) -> ResponseReturnValue:
    event = event_or_abort(event_id, edit=True)
    chosen_kind = _kind(kind)
    if fmt not in service.FORMATS:
        abort(404)
    rounds = service.assignment_rounds(db.session, event.id)
    given = [part.strip() for value in request.args.getlist("columns")
             for part in value.split(",")]
    columns = given if "columns" in request.args else service.default_columns(
        event, chosen_kind, rounds)
    encoding = request.args.get("encoding", "utf-8-sig")
    try:
        checked = service.check_request(event, rounds, chosen_kind, fmt, encoding, columns)
    except DomainError as error:
        form = _form(event, rounds, chosen_kind, MultiDict({
            "kind": chosen_kind.value, "fmt": fmt, "encoding": encoding}))
        form.columns.data = [c for c in columns if c not in service.PERSONAL]
        form.personal.data = [c for c in columns if c in service.PERSONAL]
        _report_error(form, error)
        return _page(event, chosen_kind, form, status=422)
    export = service.start_export(db.session, signed_in_user(), event.id, checked)
    disposition = {"Content-Disposition": f'attachment; filename="{export.filename}"'}
    # Imported here: the spreadsheet engine loads openpyxl, which no other page needs.
    from app.engines.spreadsheets import iter_csv_chunks, write_xlsx

    if fmt == "csv":
        chunks = iter_csv_chunks(export.header, export.rows(), encoding=checked.encoding)
        # content_type, not mimetype: werkzeug would append a second charset to a mimetype.
        return Response(stream_with_context(chunks),
                        content_type=CSV_MIMETYPES[checked.encoding], headers=disposition)
    # A workbook is a zip whose directory comes last: it is written to a temporary file
    # (openpyxl's write-only mode keeps the rows on disk too), then sent from there.
    workbook = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _file_chunks)
    try:
        write_xlsx(export.header, export.rows(), workbook, export.sheet_title,
                   column_widths=export.widths or None, number_formats=export.number_formats)
    except BaseException:
        workbook.close()
        raise
    size = workbook.tell()
    workbook.seek(0)
    return Response(_file_chunks(workbook), mimetype=XLSX_MIMETYPE,
                    headers={**disposition, "Content-Length": str(size)})


def _file_chunks(handle: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    """The file in chunks; closed at the end, or when the client goes away (the generator is
    closed then), so no temporary file outlives its response."""
    try:
        while chunk := handle.read(size):
            yield chunk
    finally:
        handle.close()
