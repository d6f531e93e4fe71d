"""Breakout rounds: from confirmed registrations to a published assignment, and its exports.

The workflow of one round: run the engine (app.engines.breakouts.solve) on the event's
confirmed registrations, look at the preview, move people by hand (a moved seat is pinned),
re-run for newcomers only, lock the participants' rankings, publish (everyone is told their
group through the outbox). Nobody already told their group, and no pinned seat, is ever moved
by the solver: those seats go to the engine as pins.

Who is in a round is decided when reading: only confirmed registrations count, so a person
who cancels after being placed drops out of the preview, rosters and exports at once; the
next change to the round deletes their seat (recorded in the audit log).

Every change runs in one write transaction with the round's row locked, and is written to the
audit log naming people by registration id only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.database import SessionLike, write_transaction
from app.models import (
    BreakoutAssignment,
    BreakoutGroup,
    BreakoutRound,
    Registration,
    User,
)
from app.models.breakouts import AssignmentSource, RoundStatus
from app.models.enums import EventStatus, MessageKind, RegistrationStatus
from app.orm import utcnow
from app.services.audit import record
from app.services.errors import DomainError, NotFound
from app.services.invitations import BreakoutInfo
from app.services.messages import queue_message
from app.services.permissions import load_event

if TYPE_CHECKING:
    # The solver pulls numpy and scipy (~0.4 s, ~60 MB per process); registration and the
    # invitations import this module on every worker, so the functions that run the engine
    # import it themselves, on the first assignment.
    from app.engines import breakouts as engine

# Attributes of a registration the engine can spread across groups; "round<N>" (the group a
# person had in an earlier round N) is added per round.
ATTRIBUTES = ("prefecture", "org_type", "organization")
# Shown in every preview, whether spread or not: where people come from, what kind of body.
SHOWN_ATTRIBUTES = ("prefecture", "org_type")
MAX_PENALTY = 100

# Vendors' limits (see /work/shared/FORMATS.md).
ZOOM_MAX_ROOMS = 100
ZOOM_MAX_PARTICIPANTS = 1000
TEAMS_MAX_ROOMS = 50
TEAMS_MAX_PARTICIPANTS = 300

MESSAGES = {
    "round_not_found": _l("This round does not exist."),
    "event_cancelled": _l("This event has been cancelled and can no longer be changed."),
    "no_groups": _l("This round has no breakout groups. Add groups to the event first."),
    "nobody": _l("There are no confirmed participants to place yet."),
    "session": _l("Please choose a session of this event."),
    "group": _l("Please choose a group of this round."),
    "not_confirmed": _l("This person is not a confirmed participant of this event."),
    "no_seat": _l("This person has no group in this round yet."),
    "penalty": _l("Please enter a whole number from 0 to %(max)d.", max=MAX_PENALTY),
    "attribute": _l("Please choose attributes from the list."),
    "already_locked": _l("The rankings of this round are already locked."),
    "not_locked": _l("The rankings of this round are not locked."),
    "published_locked": _l("A published round stays locked."),
    "nothing_to_publish": _l("Run the assignment before publishing it."),
    "all_told": _l("Everyone in this round has already been told their group."),
    "ranking_locked": _l("The organiser has closed the choice of discussion groups: your "
                         "ranking can no longer be changed. Your other answers can still be "
                         "changed."),
}

ATTRIBUTE_LABELS = {
    "prefecture": _l("Prefecture"),
    "org_type": _l("Type of organisation"),
    "organization": _l("Organisation"),
}


def attribute_label(attribute: str) -> Any:
    if attribute.startswith("round") and attribute[5:].isdigit():
        return _l("Group in round %(number)d", number=int(attribute[5:]))
    return ATTRIBUTE_LABELS.get(attribute, attribute)


class BreakoutWorkflowError(DomainError):
    code = "breakout_error"


class ExportLimitError(BreakoutWorkflowError):
    """An export would exceed what Zoom or Teams accept; no file is made."""

    code = "export_limit"


# --- Reading -------------------------------------------------------------------------------


def rounds(session: SessionLike, event_id: int) -> list[BreakoutRound]:
    return list(session.execute(
        select(BreakoutRound).where(BreakoutRound.event_id == event_id)
        .order_by(BreakoutRound.number)).scalars())


def get_round(session: SessionLike, event_id: int, round_id: int) -> BreakoutRound:
    found = session.get(BreakoutRound, round_id)
    if found is None or found.event_id != event_id:
        raise NotFound(MESSAGES["round_not_found"])
    return found


def round_groups(round_: BreakoutRound) -> list[BreakoutGroup]:
    """A round with a programme session uses that session's groups and those of no session;
    a round without one uses every group of the event. In the event's order."""
    groups = round_.event.breakout_groups
    if round_.session_id is None:
        return list(groups)
    return [group for group in groups if group.session_id in (None, round_.session_id)]


def diversity_choices(session: SessionLike, round_: BreakoutRound) -> list[str]:
    """What this round may spread on: the registration's attributes, and for a reshuffle the
    group each person had in every earlier round."""
    earlier = session.execute(
        select(BreakoutRound.number).where(BreakoutRound.event_id == round_.event_id,
                                           BreakoutRound.number < round_.number)
        .order_by(BreakoutRound.number)).scalars()
    return [*ATTRIBUTES, *(f"round{number}" for number in earlier)]


def _confirmed(session: SessionLike, event_id: int) -> list[Registration]:
    """Confirmed registrations in sign-up order (the engine breaks ties in this order)."""
    return list(session.execute(
        select(Registration)
        .where(Registration.event_id == event_id,
               Registration.status == RegistrationStatus.CONFIRMED)
        .order_by(Registration.created_at, Registration.id)
        .options(selectinload(Registration.preferences))).scalars())


def _seats(session: SessionLike, round_id: int) -> list[BreakoutAssignment]:
    """The round's seats of people still confirmed."""
    return list(session.execute(
        select(BreakoutAssignment)
        .join(Registration, Registration.id == BreakoutAssignment.registration_id)
        .where(BreakoutAssignment.round_id == round_id,
               Registration.status == RegistrationStatus.CONFIRMED)
        .order_by(Registration.furigana_key, Registration.id)
        .options(selectinload(BreakoutAssignment.registration)
                 .selectinload(Registration.preferences))).scalars())


def _earlier_groups(session: SessionLike, round_: BreakoutRound) -> dict[int, dict[int, int]]:
    """Round number → registration id → group id, for every earlier round of the event."""
    rows = session.execute(
        select(BreakoutRound.number, BreakoutAssignment.registration_id,
               BreakoutAssignment.group_id)
        .join(BreakoutAssignment, BreakoutAssignment.round_id == BreakoutRound.id)
        .where(BreakoutRound.event_id == round_.event_id,
               BreakoutRound.number < round_.number))
    earlier: dict[int, dict[int, int]] = {}
    for number, registration_id, group_id in rows:
        earlier.setdefault(number, {})[registration_id] = group_id
    return earlier


def _attributes(registration: Registration,
                earlier: dict[int, dict[int, int]]) -> dict[str, str]:
    attrs = {
        "prefecture": registration.prefecture_code,
        "org_type": registration.organization_type.value,
        "organization": registration.organization_name,
    }
    for number, seats in earlier.items():
        if registration.id in seats:
            attrs[f"round{number}"] = str(seats[registration.id])
    return attrs


def _ranking(registration: Registration, group_ids: set[int], ranks: int) -> list[int]:
    """The person's ranked groups that take part in this round, best first."""
    return [p.group_id for p in registration.preferences if p.group_id in group_ids][:ranks]


# --- Preview -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    registration: Registration
    assignment: BreakoutAssignment
    rank: int | None
    """The choice they got (1 = first); None when the group was not in their ranking."""
    ranked: bool
    """Whether they ranked any group of this round at all."""


@dataclass(frozen=True)
class DiversityFigure:
    attribute: str
    value: str
    """The value most members of the group share (raw: a prefecture code, a group id…)."""
    count: int
    fair_share: int
    """ceil(n_v / G): how many with that value a group holds before the engine's penalty."""
    above: int
    """Members above their value's fair share, over every value of the attribute."""


@dataclass
class GroupFigures:
    group: BreakoutGroup
    members: list[Member]
    diversity: list[DiversityFigure] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def over_capacity(self) -> bool:
        return self.group.capacity is not None and self.size > self.group.capacity


@dataclass
class Preview:
    round: BreakoutRound
    groups: list[GroupFigures]
    unplaced: list[Registration]
    ranks: int
    rank_counts: list[int]
    """How many got their 1st, 2nd, … choice (index 0 is the 1st)."""
    unlisted: int
    """Placed in a group they did not rank although they ranked others."""
    no_preference: int
    """Ranked no group of this round."""
    above_fair_share: dict[str, int]
    """Attribute → members above their group's fair share, over all groups."""
    not_told: int
    """Placed but not yet told their group."""

    @property
    def placed(self) -> int:
        return sum(group.size for group in self.groups)

    def share(self, count: int) -> float:
        return count / self.placed if self.placed else 0.0


def preview(session: SessionLike, round_: BreakoutRound) -> Preview:
    """The round as it stands: per group its members and the choice each got, sizes against
    capacities, how mixed each group is; who is still without a group."""
    groups = round_groups(round_)
    group_ids = {group.id for group in groups}
    ranks = round_.event.max_preference_ranks
    seats = [seat for seat in _seats(session, round_.id) if seat.group_id in group_ids]
    seated = {seat.registration_id for seat in seats}
    unplaced = [r for r in _confirmed(session, round_.event_id) if r.id not in seated]

    by_group: dict[int, GroupFigures] = {g.id: GroupFigures(g, []) for g in groups}
    rank_counts = [0] * ranks
    unlisted = no_preference = 0
    for seat in seats:
        ranking = _ranking(seat.registration, group_ids, ranks)
        rank = ranking.index(seat.group_id) + 1 if seat.group_id in ranking else None
        if rank is not None:
            rank_counts[rank - 1] += 1
        elif ranking:
            unlisted += 1
        else:
            no_preference += 1
        by_group[seat.group_id].members.append(Member(seat.registration, seat, rank,
                                                      bool(ranking)))

    above = _diversity(session, round_, groups, by_group, seats)
    return Preview(
        round=round_, groups=list(by_group.values()), unplaced=unplaced, ranks=ranks,
        rank_counts=rank_counts, unlisted=unlisted, no_preference=no_preference,
        above_fair_share=above, not_told=sum(1 for seat in seats if seat.notified_at is None))


def _diversity(session: SessionLike, round_: BreakoutRound, groups: list[BreakoutGroup],
               by_group: dict[int, GroupFigures],
               seats: list[BreakoutAssignment]) -> dict[str, int]:
    """Fill each group's diversity figures; return the total above fair share per attribute.

    The fair shares and overflows come from the engine's own scoring (`evaluate`), so the
    preview measures exactly what the solver minimised."""
    if not seats:
        return {}
    from app.engines import breakouts as engine  # lazy: see the imports at the top

    earlier = _earlier_groups(session, round_)
    attrs = {seat.registration_id: _attributes(seat.registration, earlier) for seat in seats}
    shown = [a for a in dict.fromkeys([*SHOWN_ATTRIBUTES, *round_.diversity])
             if any(values.get(a) for values in attrs.values())]
    sizes = Counter(seat.group_id for seat in seats)
    # Capacities only matter to the scoring through "groups that can hold anyone"; an
    # organiser may have overfilled a group by hand, which scoring must accept.
    problem = engine.Problem(
        groups=tuple(engine.Group(str(g.id), len(seats) if g.capacity is None
                                  else max(g.capacity, sizes[g.id])) for g in groups),
        participants=tuple(engine.Participant(str(seat.registration_id),
                                              attrs=attrs[seat.registration_id])
                           for seat in seats))
    scored = engine.evaluate(problem, {str(s.registration_id): str(s.group_id) for s in seats},
                             engine.Options(diversity=tuple(shown)))
    for figures in by_group.values():
        for attribute in shown:
            counts = Counter(v for m in figures.members
                             if (v := attrs[m.registration.id].get(attribute)))
            if not counts:
                continue
            value, count = counts.most_common(1)[0]
            figures.diversity.append(DiversityFigure(
                attribute, value, count, scored.ceilings[attribute][value],
                scored.overflow[attribute][str(figures.group.id)]))
    return {attribute: sum(scored.overflow[attribute].values()) for attribute in shown}


# --- Changing a round ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    placed: int
    """People the solver placed (moved or newly seated)."""
    kept: int
    """Seats passed to the solver as pins: pinned, or already told."""
    dropped: int
    """Seats deleted because the registration is no longer confirmed."""


def _round_for_change(session: SessionLike, actor: User, event_id: int,
                      round_id: int) -> BreakoutRound:
    event = load_event(session, actor, event_id, edit=True)
    if event.status is EventStatus.CANCELLED:
        raise BreakoutWorkflowError(MESSAGES["event_cancelled"])
    # Locks the round's row (PostgreSQL), so two organisers' changes to it queue up.
    round_ = session.execute(
        select(BreakoutRound).where(BreakoutRound.id == round_id,
                                    BreakoutRound.event_id == event.id)
        .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if round_ is None:
        raise NotFound(MESSAGES["round_not_found"])
    return round_


def _drop_stale(session: SessionLike, actor: User, round_: BreakoutRound,
                confirmed: Iterable[Registration]) -> int:
    """Delete seats of people no longer confirmed, or in a group no longer in the round."""
    keep = {r.id for r in confirmed}
    group_ids = {g.id for g in round_groups(round_)}
    stale = [seat for seat in round_.assignments
             if seat.registration_id not in keep or seat.group_id not in group_ids]
    for seat in stale:
        round_.assignments.remove(seat)
    if stale:
        record(session, actor, "breakout.drop", round_, event_id=round_.event_id,
               details={"registration_ids": sorted(s.registration_id for s in stale)})
    return len(stale)


def create_round(session: SessionLike, actor: User, event_id: int,
                 session_id: int | None) -> BreakoutRound:
    """A new draft round numbered after the last; later rounds can mix earlier groups."""
    from app.engines import breakouts as engine  # lazy: see the imports at the top

    with write_transaction(session):
        event = load_event(session, actor, event_id, edit=True)
        if event.status is EventStatus.CANCELLED:
            raise BreakoutWorkflowError(MESSAGES["event_cancelled"])
        if session_id is not None and session_id not in {s.id for s in event.sessions}:
            raise BreakoutWorkflowError(MESSAGES["session"], field="session_id")
        numbers = [r.number for r in rounds(session, event.id)]
        round_ = BreakoutRound(event=event, number=max(numbers, default=0) + 1,
                               session_id=session_id, status=RoundStatus.DRAFT,
                               diversity=[], penalty=engine.DEFAULT_PENALTY)
        session.add(round_)
        session.flush()
        record(session, actor, "breakout.round_create", round_, event_id=event.id,
               details={"number": round_.number, "session_id": session_id})
    return round_


def run(session: SessionLike, actor: User, event_id: int, round_id: int, *,
        diversity: Sequence[str], penalty: int) -> RunOutcome:
    """Save the round's diversity settings and re-solve everyone who is neither pinned nor
    already told their group."""
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        choices = diversity_choices(session, round_)
        if any(attribute not in choices for attribute in diversity):
            raise BreakoutWorkflowError(MESSAGES["attribute"], field="diversity")
        if not 0 <= penalty <= MAX_PENALTY:
            raise BreakoutWorkflowError(MESSAGES["penalty"], field="penalty")
        round_.diversity = list(dict.fromkeys(diversity))
        round_.penalty = penalty
        outcome = _solve(session, actor, round_, newcomers_only=False)
        record(session, actor, "breakout.run", round_, event_id=round_.event_id,
               details={"diversity": round_.diversity, "penalty": penalty,
                        "placed": outcome.placed, "kept": outcome.kept})
    return outcome


def rerun_newcomers(session: SessionLike, actor: User, event_id: int,
                    round_id: int) -> RunOutcome:
    """Place only the people without a group (late sign-ups, promotions from the waiting
    list); every existing seat is a pin. Uses the round's saved diversity settings."""
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        outcome = _solve(session, actor, round_, newcomers_only=True)
        record(session, actor, "breakout.newcomers", round_, event_id=round_.event_id,
               details={"placed": outcome.placed})
    return outcome


def _solve(session: SessionLike, actor: User, round_: BreakoutRound, *,
           newcomers_only: bool) -> RunOutcome:
    from app.engines import breakouts as engine  # lazy: see the imports at the top

    groups = round_groups(round_)
    if not groups:
        raise BreakoutWorkflowError(MESSAGES["no_groups"])
    people = _confirmed(session, round_.event_id)
    if not people:
        raise BreakoutWorkflowError(MESSAGES["nobody"])
    dropped = _drop_stale(session, actor, round_, people)
    existing = {seat.registration_id: seat for seat in round_.assignments}
    fixed = {rid: seat.group_id for rid, seat in existing.items()
             if newcomers_only or seat.pinned or seat.notified_at is not None}
    if len(fixed) == len(people):
        return RunOutcome(placed=0, kept=len(fixed), dropped=dropped)

    problem, options = _problem(session, round_, groups, people, fixed)
    for attribute in options.diversity:
        if not any(p.attrs.get(attribute) for p in problem.participants):
            raise BreakoutWorkflowError(
                _l("Nobody in this round has a value for “%(attribute)s”, so it cannot be "
                   "spread.", attribute=attribute_label(attribute)), field="diversity")
    try:
        result = engine.solve(problem, options)
    except engine.BreakoutError as error:  # the capacity check above catches the usual case
        raise BreakoutWorkflowError(_l("No valid assignment exists: %(reason)s",
                                       reason=str(error))) from error

    placed = 0
    for participant_id, group_id in result.assignment.items():
        registration_id, chosen = int(participant_id), int(group_id)
        if registration_id in fixed:
            continue
        seat = existing.get(registration_id)
        if seat is None:
            round_.assignments.append(BreakoutAssignment(
                registration_id=registration_id, group_id=chosen, pinned=False,
                source=AssignmentSource.SOLVER))
            placed += 1
        elif seat.group_id != chosen:
            seat.group_id = chosen
            seat.source = AssignmentSource.SOLVER
            placed += 1
    return RunOutcome(placed=placed, kept=len(fixed), dropped=dropped)


def _problem(session: SessionLike, round_: BreakoutRound, groups: list[BreakoutGroup],
             people: list[Registration],
             fixed: dict[int, int]) -> tuple[engine.Problem, engine.Options]:
    """The engine's problem: ids are registration and group ids as text; existing seats to
    keep are pins. A group without a limit holds everyone; a group already overfilled by
    hand keeps its people and takes nobody new."""
    from app.engines import breakouts as engine  # lazy: see the imports at the top

    pinned: dict[int, list[str]] = {group.id: [] for group in groups}
    for registration_id, group_id in fixed.items():
        pinned[group_id].append(str(registration_id))
    capacities = {g.id: len(people) if g.capacity is None
                  else max(g.capacity, len(pinned[g.id])) for g in groups}
    free_seats = sum(capacities[g.id] - len(pinned[g.id]) for g in groups)
    to_place = len(people) - len(fixed)
    if free_seats < to_place:
        raise BreakoutWorkflowError(_l(
            "The groups have %(seats)d free places for %(people)d people to place: "
            "%(missing)d more places are needed. Raise a group's capacity or add a group.",
            seats=free_seats, people=to_place, missing=to_place - free_seats))
    group_ids = {group.id for group in groups}
    ranks = round_.event.max_preference_ranks
    earlier = _earlier_groups(session, round_)
    problem = engine.Problem(
        groups=tuple(engine.Group(str(g.id), capacities[g.id], fixed=tuple(pinned[g.id]))
                     for g in groups),
        participants=tuple(
            engine.Participant(str(r.id),
                               prefs=tuple(str(g) for g in _ranking(r, group_ids, ranks)),
                               attrs=_attributes(r, earlier))
            for r in people))
    return problem, engine.Options(diversity=tuple(round_.diversity),
                                   penalty=round_.penalty, ranks=ranks)


@dataclass(frozen=True)
class MoveOutcome:
    group: BreakoutGroup
    size: int
    told: bool
    """An update went to the person, who had already been told their former group."""


def move(session: SessionLike, actor: User, event_id: int, round_id: int,
         registration_id: int, group_id: int, *, now: datetime | None = None) -> MoveOutcome:
    """Put a person in a group by hand (pinned from then on). Someone already told their
    group is sent an update at once, since their manage page changes with it."""
    now = now or utcnow()
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        registration = session.get(Registration, registration_id)
        if (registration is None or registration.event_id != round_.event_id
                or registration.status is not RegistrationStatus.CONFIRMED):
            raise BreakoutWorkflowError(MESSAGES["not_confirmed"])
        group = next((g for g in round_groups(round_) if g.id == group_id), None)
        if group is None:
            raise BreakoutWorkflowError(MESSAGES["group"], field="group_id")
        seat = next((s for s in round_.assignments if s.registration_id == registration_id),
                    None)
        if seat is None:
            seat = BreakoutAssignment(registration_id=registration_id, group_id=group.id,
                                      source=AssignmentSource.MANUAL)
            round_.assignments.append(seat)
        former = seat.group_id if seat.id is not None else None
        seat.group_id = group.id
        seat.source = AssignmentSource.MANUAL
        seat.pinned = True
        told = seat.notified_at is not None and former != group.id
        if told:
            _tell(session, registration, group, changed=True)
            seat.notified_at = now
        record(session, actor, "breakout.move", round_, event_id=round_.event_id,
               details={"registration_id": registration_id, "from_group_id": former,
                        "to_group_id": group.id, "update_sent": told})
        session.flush()
        size = sum(1 for s in _seats(session, round_.id) if s.group_id == group.id)
    return MoveOutcome(group=group, size=size, told=told)


def set_pinned(session: SessionLike, actor: User, event_id: int, round_id: int,
               registration_id: int, pinned: bool) -> None:
    """A pinned seat is kept by every later run; unpinning lets the solver move it again
    (unless the person has already been told their group)."""
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        seat = next((s for s in round_.assignments if s.registration_id == registration_id),
                    None)
        if seat is None:
            raise BreakoutWorkflowError(MESSAGES["no_seat"])
        seat.pinned = pinned
        record(session, actor, "breakout.pin" if pinned else "breakout.unpin", round_,
               event_id=round_.event_id, details={"registration_id": registration_id})


def lock(session: SessionLike, actor: User, event_id: int, round_id: int, *,
         now: datetime | None = None) -> None:
    """From now on participants cannot change their ranking (see check_ranking_change)."""
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        if round_.locked_at is not None:
            raise BreakoutWorkflowError(MESSAGES["already_locked"])
        round_.locked_at = now or utcnow()
        record(session, actor, "breakout.lock", round_, event_id=round_.event_id)


def unlock(session: SessionLike, actor: User, event_id: int, round_id: int) -> None:
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        if round_.status is RoundStatus.PUBLISHED:
            raise BreakoutWorkflowError(MESSAGES["published_locked"])
        if round_.locked_at is None:
            raise BreakoutWorkflowError(MESSAGES["not_locked"])
        round_.locked_at = None
        record(session, actor, "breakout.unlock", round_, event_id=round_.event_id)


def publish(session: SessionLike, actor: User, event_id: int, round_id: int, *,
            now: datetime | None = None) -> int:
    """Tell everyone placed and not yet told their group (one message each), lock the
    rankings, and show the groups on the participants' manage pages. Publishing again
    tells only the people placed since. Returns the number of messages queued."""
    now = now or utcnow()
    with write_transaction(session):
        round_ = _round_for_change(session, actor, event_id, round_id)
        people = _confirmed(session, round_.event_id)
        _drop_stale(session, actor, round_, people)
        if not round_.assignments:
            raise BreakoutWorkflowError(MESSAGES["nothing_to_publish"])
        seated = {seat.registration_id for seat in round_.assignments}
        unplaced = sum(1 for person in people if person.id not in seated)
        if unplaced:
            raise BreakoutWorkflowError(_l(
                "%(count)d confirmed participants have no group yet. Re-run for newcomers "
                "(or place them by hand) before publishing.", count=unplaced))
        by_id = {person.id: person for person in people}
        to_tell = [seat for seat in round_.assignments if seat.notified_at is None]
        if not to_tell:
            raise BreakoutWorkflowError(MESSAGES["all_told"])
        to_tell.sort(key=lambda seat: seat.registration_id)
        for seat in to_tell:
            _tell(session, by_id[seat.registration_id], seat.group, changed=False)
            seat.notified_at = now
        round_.status = RoundStatus.PUBLISHED
        round_.published_at = round_.published_at or now
        round_.locked_at = round_.locked_at or now
        record(session, actor, "breakout.publish", round_, event_id=round_.event_id,
               details={"told": len(to_tell)})
    return len(to_tell)


def facilitator_text(group: BreakoutGroup) -> str:
    if group.facilitator_name and group.facilitator_affiliation:
        return f"{group.facilitator_name}（{group.facilitator_affiliation}）"
    return group.facilitator_name


def _tell(session: SessionLike, registration: Registration, group: BreakoutGroup, *,
          changed: bool) -> None:
    subject = None
    if changed:  # the kind's own subject ("Your discussion group") says nothing of a change
        with force_locale(registration.language):
            subject = _("Your discussion group has changed")
    facilitator = facilitator_text(group)
    queue_message(session, MessageKind.GROUP_ASSIGNED, registration, subject=subject,
                  group_name=group.name, facilitator=facilitator, room=group.room,
                  breakout_info=BreakoutInfo(group.name, facilitator, group.room))


# --- The participant's side ----------------------------------------------------------------


def check_ranking_change(session: SessionLike, registration: Registration,
                         preferences: Sequence[int]) -> None:
    """Refuse a change of ranking once a round of the event is locked; the same ranking
    (the participant only changed other answers) always passes. Called from
    app.services.registration.update_registration inside its transaction."""
    wanted = list(preferences[: registration.event.max_preference_ranks])
    if wanted == [p.group_id for p in registration.preferences]:
        return
    # FOR SHARE on every round of the event (PostgreSQL): a lock being committed meanwhile
    # waits for this change, or this change sees the lock; SQLite has one writer anyway.
    locks = session.execute(
        select(BreakoutRound.locked_at).where(BreakoutRound.event_id == registration.event_id)
        .with_for_update(read=True)).scalars()
    if any(locked_at is not None for locked_at in locks):
        raise BreakoutWorkflowError(MESSAGES["ranking_locked"], field="preferences")


@dataclass(frozen=True)
class PublishedSeat:
    round: BreakoutRound
    group: BreakoutGroup

    @property
    def room_url(self) -> str:
        """The room when it is a web address (an online room), to show as a link."""
        return self.group.room if self.group.room.startswith(("https://", "http://")) else ""


def published_seats(session: SessionLike, registration: Registration) -> list[PublishedSeat]:
    """The groups a participant has been told, round by round."""
    if registration.status is not RegistrationStatus.CONFIRMED:
        return []
    seats = session.execute(
        select(BreakoutAssignment)
        .join(BreakoutRound, BreakoutRound.id == BreakoutAssignment.round_id)
        .where(BreakoutAssignment.registration_id == registration.id,
               BreakoutRound.status == RoundStatus.PUBLISHED,
               BreakoutAssignment.notified_at.is_not(None))
        .order_by(BreakoutRound.number)).scalars()
    return [PublishedSeat(seat.round, seat.group) for seat in seats]


# --- Rosters and exports -------------------------------------------------------------------


@dataclass(frozen=True)
class Roster:
    group: BreakoutGroup
    members: list[Registration]


def rosters(session: SessionLike, round_: BreakoutRound,
            group_id: int | None = None) -> list[Roster]:
    """Each group of the round (or only `group_id`) with its confirmed members, by reading."""
    groups = [g for g in round_groups(round_) if group_id is None or g.id == group_id]
    members: dict[int, list[Registration]] = {g.id: [] for g in groups}
    for seat in _seats(session, round_.id):
        if seat.group_id in members:
            members[seat.group_id].append(seat.registration)
    return [Roster(group, members[group.id]) for group in groups]


def _rooms(all_rosters: list[Roster]) -> list[Roster]:
    """Groups with someone in them: an empty group needs no room."""
    return [roster for roster in all_rosters if roster.members]


def zoom_limit_error(all_rosters: list[Roster]) -> ExportLimitError | None:
    rooms = _rooms(all_rosters)
    people = sum(len(r.members) for r in rooms)
    if len(rooms) <= ZOOM_MAX_ROOMS and people <= ZOOM_MAX_PARTICIPANTS:
        return None
    return ExportLimitError(_l(
        "Zoom pre-assigns at most %(max_rooms)d rooms and %(max_people)d participants per "
        "meeting, and this round has %(rooms)d rooms and %(people)d participants. No file "
        "was made: split the groups over several meetings, or assign the rest in Zoom "
        "during the meeting.", max_rooms=ZOOM_MAX_ROOMS, max_people=ZOOM_MAX_PARTICIPANTS,
        rooms=len(rooms), people=people))


def teams_limit_error(all_rosters: list[Roster]) -> ExportLimitError | None:
    rooms = _rooms(all_rosters)
    people = sum(len(r.members) for r in rooms)
    if len(rooms) <= TEAMS_MAX_ROOMS and people <= TEAMS_MAX_PARTICIPANTS:
        return None
    return ExportLimitError(_l(
        "Microsoft Teams allows at most %(max_rooms)d breakout rooms in meetings of up to "
        "%(max_people)d participants, and this round has %(rooms)d rooms and %(people)d "
        "participants. Split the groups over several meetings.",
        max_rooms=TEAMS_MAX_ROOMS, max_people=TEAMS_MAX_PARTICIPANTS, rooms=len(rooms),
        people=people))


ZOOM_HEADER = ("Pre-assign Room Name", "Email Address")


def zoom_rows(all_rosters: list[Roster]) -> list[tuple[str, str]]:
    """Zoom's breakout pre-assignment file: one row a person, the room name repeated."""
    error = zoom_limit_error(all_rosters)
    if error is not None:
        raise error
    return [(roster.group.name, person.email)
            for roster in _rooms(all_rosters) for person in roster.members]


def teams_rooms(all_rosters: list[Roster]) -> list[Roster]:
    """The rooms to create in Teams by hand (Teams has no import), within its limits."""
    error = teams_limit_error(all_rosters)
    if error is not None:
        raise error
    return _rooms(all_rosters)
