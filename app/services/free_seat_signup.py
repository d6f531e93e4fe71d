"""A plain sign-up for a free seat, on a connection of its own: the seat claim with it.

Every sign-up for an event claims its seat on the same seat pool row, which PostgreSQL locks
until the transaction ends (SQLite: every writer of the file waits for the one holding its
write lock). Through the request's session, as BEGIN, INSERT, UPDATE, INSERT, COMMIT, that
lock stays held over round trips and the session's bookkeeping, and under a burst the
worker's threads also queue for the GIL between the steps while every other sign-up waits.
The common case, a seat expected on the event as it was read, is written here instead:

* PostgreSQL: one statement of data-modifying CTEs, committed on its own (autocommit), so
  the row is held only while PostgreSQL runs it and commits:

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

* SQLite, which has no data-modifying CTEs: the claim, then the inserts, in one IMMEDIATE
  transaction on a connection of its own, in the writers' queue (app/database.py). The
  statements are SQLAlchemy Core's, compiled once, and sent on the driver's cursor with
  their parameters made ready before the turn (`_DriverStatement`): there a statement costs
  no round trip, so SQLAlchemy's per-execution bookkeeping was most of the time every other
  writer waited.

Either way, no id back means that no seat was claimed and nothing was written (the pool is
full, or the event changed since it was read): the caller decides again the ordinary way.
An error (the address is registered already, the event or a group was deleted) undoes all.
"""

from __future__ import annotations

from collections.abc import Callable
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
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from app.database import writer_turn
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

INSERT_REGISTRATION = insert(Registration.__table__).returning(Registration.__table__.c.id)
_INSERT_PREFERENCES = insert(BreakoutPreference.__table__)
_INSERT_MESSAGE = insert(OutboxMessage.__table__)

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


SIGNUP_IN_ONE_STATEMENT = _build()


def supported(bind: Engine | Connection) -> TypeGuard[Engine]:
    """Through an engine: the sign-up takes a connection of its own."""
    return isinstance(bind, Engine) and bind.dialect.name in ("postgresql", "sqlite")


def sign_up_for_a_free_seat(
    engine: Engine, *, pool_event: int, pool_mode: AttendanceMode, seen: datetime,
    registration: dict[str, Any], groups: list[int], message: dict[str, Any],
) -> int | None:
    """The new registration's id, or None when no seat was claimed and nothing written."""
    claim = {"pool_event": pool_event, "pool_mode": pool_mode, "seen": seen}
    if engine.dialect.name == "postgresql":
        parameters = {**claim, "groups": groups}
        parameters.update({_REGISTRATION_PREFIX + key: value
                           for key, value in registration.items()})
        parameters.update({_MESSAGE_PREFIX + key: value for key, value in message.items()})
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            return autocommit.execute(SIGNUP_IN_ONE_STATEMENT, parameters).scalar_one_or_none()
    return _on_sqlite(engine, claim, registration, groups, message)


class _DriverStatement:
    """A Core statement compiled once for SQLite and sent on the driver's own cursor, its
    parameters converted by the same bind processors as SQLAlchemy's (enums, JSON, dates).

    Through a Connection every statement also pays for SQLAlchemy's execution context and
    result set-up; on SQLite, where a statement costs no round trip, that is most of a
    sign-up's time under the write lock, which every other sign-up waits for.
    """

    def __init__(self, statement: Any, dialect: Dialect, columns: tuple[str, ...] = ()) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
        self.compiled = compiled
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())
        # Python-side column defaults the INSERT would fill in (Core does so per execution).
        self.defaults = tuple((column.key, column.default)
                              for column in getattr(compiled, "insert_prefetch", ()))
        self.processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self.names)

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        if self.defaults:
            values = dict(values)
            for key, default in self.defaults:
                if key not in values:
                    values[key] = default.arg(None) if default.is_callable else default.arg
        bound = self.compiled.construct_params(values)
        return tuple(bound[name] if process is None else process(bound[name])
                     for name, process in zip(self.names, self.processors, strict=True))

    def parameters_awaiting(self, values: dict[str, Any],
                            key: str) -> Callable[[Any], tuple[Any, ...]]:
        """The parameters ready but for `key`'s value (an id, which needs no conversion),
        known only once the statement before has run."""
        ready = self.parameters({**values, key: None})
        position = self.names.index(key)
        assert self.processors[position] is None, key
        return lambda value: (*ready[:position], value, *ready[position + 1:])


class _SQLiteSignup:
    def __init__(self, dialect: Dialect) -> None:
        self.claim = _DriverStatement(CLAIM_SEAT_IF_UNCHANGED, dialect)
        self.registration = _DriverStatement(
            insert(Registration.__table__), dialect, ("event_id", *REGISTRATION_COLUMNS))
        self.preference = _DriverStatement(
            _INSERT_PREFERENCES, dialect, ("registration_id", "group_id", "rank"))
        self.message = _DriverStatement(
            _INSERT_MESSAGE, dialect, (*MESSAGE_COLUMNS, "registration_id"))


_sqlite_statements: dict[int, _SQLiteSignup] = {}


def _on_sqlite(engine: Engine, claim: dict[str, Any], registration: dict[str, Any],
               groups: list[int], message: dict[str, Any]) -> int | None:
    statements = _sqlite_statements.get(id(engine.dialect))
    if statements is None:
        statements = _sqlite_statements[id(engine.dialect)] = _SQLiteSignup(engine.dialect)
    # Everything but the new registration's id is made ready before the turn: the other
    # writers wait while it is held, and in it this thread can also wait for the GIL.
    claim_parameters = statements.claim.parameters(claim)
    registration_parameters = statements.registration.parameters(registration)
    preference_parameters = [
        statements.preference.parameters_awaiting(
            {"group_id": group_id, "rank": rank}, "registration_id")
        for rank, group_id in enumerate(groups, start=1)]
    message_parameters = statements.message.parameters_awaiting(message, "registration_id")
    statement, parameters = statements.claim.sql, claim_parameters
    # The driver connection is taken from the pool before the turn and given back after it.
    pooled = engine.raw_connection()
    try:
        with writer_turn(engine):
            cursor = pooled.cursor()
            cursor.execute("BEGIN IMMEDIATE")  # the engine's connections are in autocommit
            try:
                cursor.execute(statement, parameters)
                if cursor.rowcount != 1:
                    cursor.execute("ROLLBACK")
                    return None  # nothing written: the empty transaction ends
                statement, parameters = (statements.registration.sql,
                                         registration_parameters)
                cursor.execute(statement, parameters)
                registration_id = cursor.lastrowid
                assert registration_id is not None
                if preference_parameters:
                    statement = statements.preference.sql
                    cursor.executemany(statement, [
                        awaiting(registration_id) for awaiting in preference_parameters])
                statement = statements.message.sql
                parameters = message_parameters(registration_id)
                cursor.execute(statement, parameters)
                cursor.execute("COMMIT")
            except BaseException:
                pooled.rollback()
                raise
            finally:
                cursor.close()
    except engine.dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would raise it: callers tell a refused insert by IntegrityError.
        raise DBAPIError.instance(statement, parameters, error,
                                  engine.dialect.loaded_dbapi.Error) from error
    finally:
        pooled.close()
    return registration_id


def insert_preferences(connection: Connection, registration_id: int, ranked: list[int]) -> None:
    """A new registration's ranked groups, already checked."""
    if ranked:
        connection.execute(_INSERT_PREFERENCES, [
            {"registration_id": registration_id, "group_id": group_id, "rank": rank}
            for rank, group_id in enumerate(ranked, start=1)
        ])
