"""The organizer's operations on an event: breakout assignment, attendance report imports and
the CSV exports."""

from __future__ import annotations

from typing import Any

from flask import Response, stream_with_context

from app.engines.attendance_reports import MAX_REPORT_BYTES
from app.extensions import db
from app.models import BreakoutRound
from app.services import attendance, breakouts, exports
from app.web.api import bp
from app.web.api.access import EVENT, READ, WRITE, api_user, documents, group_scope, load_event
from app.web.api.schemas import (
    AttendanceImportSchema,
    ExportArgsSchema,
    ImportResultSchema,
    RoundCreateSchema,
    RoundSchema,
    RunResultSchema,
    RunSchema,
    UploadSchema,
)

CSV_TYPES = {"utf-8-sig": "text/csv; charset=utf-8", "cp932": "text/csv; charset=Windows-31J"}
EXPORT_KINDS = ",".join(kind.value for kind in exports.ExportKind)


# --- Breakout assignment --------------------------------------------------------------------


def _round(round_: BreakoutRound, only_group: int | None = None) -> dict[str, Any]:
    """A round with its groups and who sits in each (registration ids); a viewer limited to
    one group sees only that one."""
    groups = [group for group in breakouts.round_groups(round_)
              if only_group is None or group.id == only_group]
    seats = sorted(round_.assignments, key=lambda seat: seat.registration_id)
    return {
        "id": round_.id, "number": round_.number, "session_id": round_.session_id,
        "status": round_.status, "diversity": round_.diversity, "penalty": round_.penalty,
        "locked_at": round_.locked_at, "published_at": round_.published_at,
        "groups": [{
            "group_id": group.id, "name": group.name, "capacity": group.capacity,
            "members": [{"registration_id": seat.registration_id, "pinned": seat.pinned,
                         "told": seat.notified_at is not None}
                        for seat in seats if seat.group_id == group.id],
        } for group in groups],
    }


@bp.route(EVENT + "/breakouts", tags=["Breakouts"])
@bp.response(200, RoundSchema(many=True))
@documents(*READ)
def list_rounds(event_id: int) -> Any:
    """The event's breakout rounds and their groups"""
    event = load_event(event_id)
    limit = group_scope(event)
    return [_round(round_, limit) for round_ in breakouts.rounds(db.session, event.id)]


@bp.route(EVENT + "/breakouts/rounds", methods=["POST"], tags=["Breakouts"])
@bp.arguments(RoundCreateSchema)
@bp.response(201, RoundSchema)
@documents(*WRITE)
def create_round(data: dict[str, Any], event_id: int) -> Any:
    """Start a new round of breakout discussion

    Numbered after the last one; a later round can spread people away from the groups they
    had before.
    """
    round_ = breakouts.create_round(db.session, api_user(), event_id, data["session_id"])
    return _round(breakouts.get_round(db.session, event_id, round_.id))


@bp.route(EVENT + "/breakouts/run", methods=["POST"], tags=["Breakouts"])
@bp.arguments(RunSchema)
@bp.response(200, RunResultSchema)
@documents(*WRITE)
def run_round(data: dict[str, Any], event_id: int) -> Any:
    """Assign the confirmed participants of a round to groups

    Respects their ranked choices and the groups' capacities, spreads the chosen attributes;
    pinned seats and people already told their group stay where they are.
    """
    outcome = breakouts.run(db.session, api_user(), event_id, data["round_id"],
                            diversity=data["diversity"], penalty=data["penalty"])
    round_ = breakouts.get_round(db.session, event_id, data["round_id"])
    return {"placed": outcome.placed, "kept": outcome.kept, "dropped": outcome.dropped,
            "round": _round(round_)}


# --- Attendance reports ---------------------------------------------------------------------


@bp.route(EVENT + "/attendance/imports", methods=["POST"], tags=["Attendance"])
@bp.arguments(UploadSchema, location="files")
@bp.response(201, AttendanceImportSchema)
@documents(*WRITE, 413)
def upload_attendance_report(files: dict[str, Any], event_id: int) -> Any:
    """Upload a Zoom or Teams attendance report

    The report is read and kept as a pending import; accept it to record who attended.
    Sending the same pending file again answers the same import.
    """
    upload = files["report"]
    return attendance.stage_report(db.session, api_user(), event_id, upload.filename or "",
                                   upload.read(MAX_REPORT_BYTES + 1))


@bp.route(EVENT + "/attendance/imports/<string(minlength=8, maxlength=64):token>/accept",
          methods=["POST"], tags=["Attendance"])
@bp.response(200, ImportResultSchema)
@documents(*WRITE)
def accept_attendance_import(event_id: int, token: str) -> Any:
    """Accept a pending import: record its people as attended

    People are matched to registrations by e-mail address, then by name; matching by hand
    is done in the console. A later download of the same meeting replaces the earlier one.
    """
    return attendance.accept_import(db.session, api_user(), event_id, token, {})


# --- Exports --------------------------------------------------------------------------------


@bp.route(EVENT + f"/exports/<any({EXPORT_KINDS}):kind>.csv", tags=["Exports"])
@bp.arguments(ExportArgsSchema, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="text/csv",
             description="The export as CSV (UTF-8 with BOM, or Shift_JIS).")
@documents(401, 403, 404, 422, 429)
def export_csv(args: dict[str, Any], event_id: int, kind: str) -> Any:
    """Download an export as CSV

    participants, attendance, rosters or summary, as in the console. Personal data (name,
    furigana, email) is included only when its column is asked for. Every download is
    recorded in the audit log.
    """
    event = load_event(event_id, edit=True)
    chosen = exports.ExportKind(kind)
    rounds = exports.assignment_rounds(db.session, event.id)
    if "columns" in args:
        columns = [part.strip() for part in args["columns"].split(",")]
    else:
        columns = exports.default_columns(event, chosen, rounds)
    checked = exports.check_request(event, rounds, chosen, "csv", args["encoding"], columns)
    export = exports.start_export(db.session, api_user(), event.id, checked)
    # Imported here: the spreadsheet engine loads openpyxl, which no other request needs.
    from app.engines.spreadsheets import iter_csv_chunks

    chunks = iter_csv_chunks(export.header, export.rows(), encoding=checked.encoding)
    # content_type, not mimetype: werkzeug would add "charset=utf-8" to a text/* mimetype.
    return Response(stream_with_context(chunks), content_type=CSV_TYPES[checked.encoding],
                    headers={"Content-Disposition":
                             f'attachment; filename="{export.filename}"'})
