"""The seat claim, and on PostgreSQL a plain sign-up for a free seat as one statement.

Every sign-up for an event claims its seat on the same seat pool row, and PostgreSQL holds
that row's lock from the claim until the transaction ends. Sent as BEGIN, INSERT, UPDATE,
INSERT, COMMIT, the row stays held over two round trips from Python, and under a burst the
worker's threads also queue for the GIL between them while every other sign-up for the
event waits. Written as one statement of data-modifying CTEs and committed on its own, the
claim, the registration, its ranked groups and its outbox row are one atomic step, and the
row is held only while PostgreSQL runs the statement and commits:

    WITH claim AS (UPDATE seat_pools SET taken = taken + 1
                   WHERE <a seat is free> AND <the event is as read> RETURNING event_id),
         registration AS (INSERT INTO registrations (...) SELECT ... WHERE EXISTS (claim)
                          RETURNING id),
         preferences AS (INSERT INTO breakout_preferences (...)
                         SELECT registration.id, group_id, rank FROM registration,
                                unnest(:groups) WITH ORDINALITY),
         message AS (INSERT INTO outbox_messages (...) SELECT ..., registration.id
                     FROM registration)
    SELECT id FROM registration

No row back means that no seat was claimed and nothing was written (the pool is full, or the
event changed since it was read): the caller decides again the ordinary way. An error (the
address is registered already, the event or a group was deleted) undoes all of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeGuard

from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    Integer,
    Select,
    bindparam,
    cast,
    func,
    insert,
    select,
    true,
    update,
)

from app.models import BreakoutPreference, Event, OutboxMessage, Registration, SeatPool
from app.models.enums import AttendanceMode

_POOLS = SeatPool.__table__.c
_EVENTS = Event.__table__.c
CLAIM_SEAT = (
    update(SeatPool.__table__)
    .where(
        _POOLS.event_id == bindparam("pool_event"),
        _POOLS.mode == bindparam("pool_mode"),
        (_POOLS.capacity.is_(None)) | (_POOLS.taken < _POOLS.capacity),
    )
    .values(taken=_POOLS.taken + 1)
)
# The same claim, made only if the event is still as it was read (see registration.register).
CLAIM_SEAT_IF_UNCHANGED = CLAIM_SEAT.where(
    select(_EVENTS.id).where(_EVENTS.id == bindparam("pool_event"),
                             _EVENTS.updated_at == bindparam("seen")).exists()
)

REGISTRATION_COLUMNS = (
    "event_id", "status", "attendance_mode", "name", "furigana", "furigana_key", "email",
    "email_normalized", "organization_name", "organization_type", "prefecture_code",
    "municipality_code", "answers", "language", "waitlist_seq", "manage_key",
    "manage_token_hash", "consented_at", "created_at", "updated_at", "confirmed_at",
)
MESSAGE_COLUMNS = (
    "kind", "event_id", "recipient", "language", "subject", "body_text", "payload",
)
# Parameters named after a column of the INSERT are reserved for its VALUES clause.
_REGISTRATION_PREFIX = "registration_"
_MESSAGE_PREFIX = "message_"


def _typed_values(table: Any, columns: tuple[str, ...], prefix: str) -> Select[Any]:
    # Cast: in `INSERT ... SELECT $1, ...` PostgreSQL would take an untyped parameter as text.
    return select(*(cast(bindparam(prefix + name, type_=table.c[name].type), table.c[name].type)
                    for name in columns))


def _build() -> Any:
    claim = CLAIM_SEAT_IF_UNCHANGED.returning(_POOLS.event_id).cte("claim")
    registrations = Registration.__table__
    registration = (
        insert(registrations)
        .from_select(REGISTRATION_COLUMNS,
                     _typed_values(registrations, REGISTRATION_COLUMNS, _REGISTRATION_PREFIX)
                     .where(select(claim.c.event_id).exists()))
        .returning(registrations.c.id)
        .cte("registration")
    )
    ranked = func.unnest(cast(bindparam("groups"), ARRAY(Integer))).table_valued(
        "group_id", with_ordinality="rank").render_derived()
    preferences = insert(BreakoutPreference.__table__).from_select(
        ("registration_id", "group_id", "rank"),
        select(registration.c.id, ranked.c.group_id, cast(ranked.c.rank, Integer))
        .select_from(registration).join(ranked, true()),
    ).cte("preferences")
    messages = OutboxMessage.__table__
    message = insert(messages).from_select(
        (*MESSAGE_COLUMNS, "registration_id"),
        _typed_values(messages, MESSAGE_COLUMNS, _MESSAGE_PREFIX)
        .add_columns(registration.c.id).select_from(registration),
    ).cte("message")
    # The two inserts nothing reads are written all the same (add_cte renders them).
    return select(registration.c.id).add_cte(preferences, message)


SIGNUP_FOR_A_FREE_SEAT = _build()


def supported(bind: Engine | Connection) -> TypeGuard[Engine]:
    """PostgreSQL, through an engine: the statement needs a connection of its own."""
    return isinstance(bind, Engine) and bind.dialect.name == "postgresql"


def signup_for_a_free_seat(
    engine: Engine, *, pool_event: int, pool_mode: AttendanceMode, seen: datetime,
    registration: dict[str, Any], groups: list[int], message: dict[str, Any],
) -> int | None:
    """The new registration's id, or None when no seat was claimed and nothing written.

    Runs in autocommit on a connection of its own: the statement is the whole transaction.
    """
    parameters = {"pool_event": pool_event, "pool_mode": pool_mode, "seen": seen,
                  "groups": groups}
    parameters.update({_REGISTRATION_PREFIX + key: value for key, value in registration.items()})
    parameters.update({_MESSAGE_PREFIX + key: value for key, value in message.items()})
    with engine.connect() as connection:
        autocommit: Connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        return autocommit.execute(SIGNUP_FOR_A_FREE_SEAT, parameters).scalar_one_or_none()

