"""The breakout workflow: run → preview → move/pin → newcomers → lock → publish, the exports
for Zoom and Teams, facilitators' rosters, and who may do what."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from html import unescape

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.extensions import db
from app.models import (
    AuditEntry,
    BreakoutAssignment,
    BreakoutGroup,
    BreakoutRound,
    Event,
    EventMembership,
    OutboxMessage,
    ProgrammeSession,
    Registration,
    User,
)
from app.models.breakouts import AssignmentSource, RoundStatus
from app.models.enums import MessageKind, RegistrationStatus, SessionKind
from app.services import breakouts as service
from app.services.errors import DomainError
from app.services.registration import cancel_registration, register, update_registration
from app.web.console.access import PUBLIC_ENDPOINTS
from tests.factories import AuthActions, add_groups, make_event, make_user, signup

PREFECTURES = {"13": "13106", "12": "12203", "19": "19201"}  # 台東区, 市川市, 甲府市


# --- Builders ------------------------------------------------------------------------------


def breakout_event(capacities: tuple[int | None, ...] = (3, 3, 3), ranks: int = 2,
                   names: tuple[str, ...] = ("企業連携", "地域福祉", "防災"),
                   seats: int = 200) -> tuple[Event, list[BreakoutGroup]]:
    """An open lecture with breakout groups; the first has a facilitator and an online room."""
    event = make_event(capacity=seats)
    groups = add_groups(event, list(names), ranks=ranks)
    for group, capacity in zip(groups, capacities, strict=True):
        group.capacity = capacity
    groups[0].facilitator_name = "佐藤 浩二"
    groups[0].facilitator_affiliation = "ダイバーシティ研究所"
    groups[0].room = "https://zoom.example.jp/j/123"
    groups[1].facilitator_name = "川島 俊二"
    groups[1].room = "会議室B"
    db.session.commit()
    return event, groups


def enrol(event: Event, count: int, prefs: list[BreakoutGroup] | None = None, *,
          start: int = 0, prefecture: str = "13", organization: str = "台東区") -> list[int]:
    """`count` confirmed sign-ups through the real service, in order; returns their ids."""
    ids = []
    for i in range(start, start + count):
        result = register(db.session, event.id, signup(
            f"p{i}@example.jp", name=f"参加者 {i:03d}", furigana=f"サンカシャ {i:03d}",
            prefecture_code=prefecture, municipality_code=PREFECTURES[prefecture],
            organization_name=organization,
            preferences=[group.id for group in prefs or []]))
        assert result.status is RegistrationStatus.CONFIRMED
        ids.append(result.registration_id)
    return ids


def organizer_of(event: Event, email: str = "organizer@example.lg.jp") -> User:
    return make_user(email, events=[event])


def new_round(event: Event, actor: User, session_id: int | None = None) -> BreakoutRound:
    return service.create_round(db.session, actor, event.id, session_id)


def seating(round_id: int) -> dict[int, int]:
    """registration id → group id."""
    db.session.expire_all()
    rows = db.session.execute(
        select(BreakoutAssignment.registration_id, BreakoutAssignment.group_id)
        .where(BreakoutAssignment.round_id == round_id)).all()
    return {registration_id: group_id for registration_id, group_id in rows}


def seat_of(round_id: int, registration_id: int) -> BreakoutAssignment:
    db.session.expire_all()
    return db.session.execute(select(BreakoutAssignment).where(
        BreakoutAssignment.round_id == round_id,
        BreakoutAssignment.registration_id == registration_id)).scalar_one()


def group_messages() -> list[OutboxMessage]:
    return list(db.session.execute(
        select(OutboxMessage).where(OutboxMessage.kind == MessageKind.GROUP_ASSIGNED)
        .order_by(OutboxMessage.id)).scalars())


def audit_actions() -> list[str]:
    return list(db.session.execute(
        select(AuditEntry.action).where(AuditEntry.action.like("breakout.%"))
        .order_by(AuditEntry.id)).scalars())


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)


@pytest.fixture(autouse=True)
def english(app) -> Iterator[None]:
    """Services called directly speak the default language (Japanese); the tests read English."""
    with force_locale("en"):
        yield


# --- Run and preview -----------------------------------------------------------------------


def test_run_places_everyone_and_the_preview_explains_it(app):
    event, (a, b, _c) = breakout_event()
    actor = organizer_of(event)
    people = enrol(event, 8, [a, b])
    round_ = new_round(event, actor)

    outcome = service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    assert (outcome.placed, outcome.kept, outcome.dropped) == (8, 0, 0)
    placed = seating(round_.id)
    assert set(placed) == set(people)
    # Optimal: 3 first choices, 3 second choices, 2 in the group nobody ranked; the first
    # three to sign up won the seats of the favourite group.
    assert [pid for pid in people if placed[pid] == a.id] == people[:3]
    assert sorted(placed.values()).count(b.id) == 3

    preview = service.preview(db.session, db.session.get(BreakoutRound, round_.id))
    assert preview.placed == 8 and not preview.unplaced
    assert preview.rank_counts == [3, 3]
    assert (preview.unlisted, preview.no_preference) == (2, 0)
    assert preview.share(3) == pytest.approx(0.375)
    assert [(g.group.name, g.size, g.over_capacity) for g in preview.groups] == [
        ("企業連携", 3, False), ("地域福祉", 3, False), ("防災", 2, False)]
    first = preview.groups[0]
    assert {m.rank for m in first.members} == {1}
    assert {m.rank for m in preview.groups[2].members} == {None}
    prefecture = next(d for d in first.diversity if d.attribute == "prefecture")
    assert (prefecture.value, prefecture.count, prefecture.fair_share) == ("13", 3, 3)
    assert preview.not_told == 8
    round_ = db.session.get(BreakoutRound, round_.id)
    assert round_.status is RoundStatus.DRAFT and round_.locked_at is None
    assert audit_actions() == ["breakout.round_create", "breakout.run"]


def test_diversity_spreads_people_of_one_prefecture(app):
    event, (a, _b) = breakout_event(capacities=(4, 4), names=("A", "B"), ranks=1)
    actor = organizer_of(event)
    tokyo = enrol(event, 4, [a], prefecture="13")
    chiba = enrol(event, 4, [a], start=10, prefecture="12", organization="市川市")
    round_ = new_round(event, actor)

    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    plain = service.preview(db.session, db.session.get(BreakoutRound, round_.id))
    assert plain.above_fair_share["prefecture"] == 4  # the first four (Tokyo) got group A

    service.run(db.session, actor, event.id, round_.id, diversity=["prefecture"], penalty=2)
    spread = service.preview(db.session, db.session.get(BreakoutRound, round_.id))
    assert spread.above_fair_share["prefecture"] == 0
    for group in spread.groups:
        figure = next(d for d in group.diversity if d.attribute == "prefecture")
        assert figure.count == 2 and figure.fair_share == 2 and figure.above == 0
    assert db.session.get(BreakoutRound, round_.id).diversity == ["prefecture"]
    assert set(seating(round_.id)) == set(tokyo + chiba)


def test_a_second_round_mixes_people_who_sat_together(app):
    event, (a, b) = breakout_event(capacities=(4, 4), names=("A", "B"), ranks=0)
    actor = organizer_of(event)
    people = enrol(event, 8)
    first = new_round(event, actor)
    service.run(db.session, actor, event.id, first.id, diversity=[], penalty=2)
    before = seating(first.id)
    second = new_round(event, actor)
    assert service.diversity_choices(db.session, second) == [*service.ATTRIBUTES, "round1"]

    service.run(db.session, actor, event.id, second.id, diversity=["round1"], penalty=2)
    after = seating(second.id)
    for group_id in (a.id, b.id):
        together = [pid for pid in people if after[pid] == group_id]
        assert sorted(before[pid] for pid in together) == sorted([a.id, a.id, b.id, b.id])


def test_a_round_of_one_session_uses_that_sessions_groups(app):
    event, (a, b, c) = breakout_event()
    session = ProgrammeSession(event=event, kind=SessionKind.BREAKOUT, title="分科会",
                               starts_at=event.starts_at, ends_at=event.ends_at)
    db.session.add(session)
    db.session.flush()
    a.session_id = b.session_id = session.id
    other = ProgrammeSession(event=event, kind=SessionKind.PANEL, title="全体会",
                             starts_at=event.starts_at, ends_at=event.ends_at)
    db.session.add(other)
    db.session.flush()
    c.session_id = other.id
    db.session.commit()
    actor = organizer_of(event)
    enrol(event, 5, [c, a])
    round_ = new_round(event, actor, session.id)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    assert set(seating(round_.id).values()) <= {a.id, b.id}
    with pytest.raises(DomainError) as refused:
        service.create_round(db.session, actor, event.id, 999_999)
    assert refused.value.field == "session_id"


def test_too_little_capacity_says_by_how_many(app):
    event, (a, _b) = breakout_event(capacities=(2, 1), names=("A", "B"))
    actor = organizer_of(event)
    enrol(event, 5, [a])
    round_ = new_round(event, actor)
    with pytest.raises(DomainError) as refused:
        service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    assert str(refused.value.message) == (
        "The groups have 3 free places for 5 people to place: 2 more places are needed. "
        "Raise a group's capacity or add a group.")
    assert seating(round_.id) == {}  # nothing half-written


def test_nothing_to_run_and_bad_settings_are_refused(app):
    event, (a, _b, _c) = breakout_event()
    actor = organizer_of(event)
    round_ = new_round(event, actor)
    with pytest.raises(DomainError, match="no confirmed participants"):
        service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    enrol(event, 2, [a])
    with pytest.raises(DomainError) as bad:
        service.run(db.session, actor, event.id, round_.id, diversity=["round7"], penalty=2)
    assert bad.value.field == "diversity"
    with pytest.raises(DomainError) as bad:
        service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=101)
    assert bad.value.field == "penalty"
    with pytest.raises(DomainError, match="“Group in round"):
        service.run(db.session, actor, event.id, new_round(event, actor).id,
                    diversity=["round1"], penalty=2)  # round 1 placed nobody yet


# --- Move, pin, newcomers ------------------------------------------------------------------


def test_a_moved_person_is_pinned_and_kept_by_later_runs(app):
    event, (a, b, c) = breakout_event()
    actor = organizer_of(event)
    people = enrol(event, 6, [a, b])
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    mover = people[4]
    assert seating(round_.id)[mover] == b.id

    outcome = service.move(db.session, actor, event.id, round_.id, mover, c.id)
    assert (outcome.group.id, outcome.size, outcome.told) == (c.id, 1, False)
    seat = seat_of(round_.id, mover)
    assert seat.pinned and seat.source is AssignmentSource.MANUAL

    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    assert seating(round_.id)[mover] == c.id  # a worse choice, yet kept: pinned

    service.set_pinned(db.session, actor, event.id, round_.id, mover, False)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    assert seating(round_.id)[mover] in (a.id, b.id)

    # Overfilling a group by hand is allowed and shows in the preview.
    for pid in people[:4]:
        service.move(db.session, actor, event.id, round_.id, pid, a.id)
    preview = service.preview(db.session, db.session.get(BreakoutRound, round_.id))
    assert preview.groups[0].size == 4 and preview.groups[0].over_capacity
    with pytest.raises(DomainError) as refused:
        service.move(db.session, actor, event.id, round_.id, people[0], 999_999)
    assert refused.value.field == "group_id"
    assert {"breakout.move", "breakout.unpin"} <= set(audit_actions())


def test_newcomers_only_never_moves_pinned_or_notified_people(app):
    event, (a, b) = breakout_event(capacities=(2, 3), names=("A", "B"))
    actor = organizer_of(event)
    first = enrol(event, 2, [a, b])
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    assert service.publish(db.session, actor, event.id, round_.id) == 2
    told = seating(round_.id)
    assert told == {first[0]: a.id, first[1]: a.id}

    # Someone who wants only A, where moving a told person to B would be cheaper (1 < 36).
    pinned = enrol(event, 1, [b], start=10)[0]
    service.move(db.session, actor, event.id, round_.id, pinned, b.id)
    newcomer = enrol(event, 1, [a], start=20)[0]
    outcome = service.rerun_newcomers(db.session, actor, event.id, round_.id)
    assert (outcome.placed, outcome.kept) == (1, 3)
    after = seating(round_.id)
    assert after[newcomer] == b.id
    assert {pid: after[pid] for pid in told} == told and after[pinned] == b.id

    # A full run keeps them too: told and pinned seats are pins.
    late = enrol(event, 1, [a], start=30)[0]
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    after = seating(round_.id)
    assert {pid: after[pid] for pid in told} == told and after[pinned] == b.id
    assert after[late] == b.id

    nobody_new = service.rerun_newcomers(db.session, actor, event.id, round_.id)
    assert nobody_new.placed == 0


def test_cancelled_people_drop_out_of_the_round(app):
    event, (a, _b, _c) = breakout_event()
    actor = organizer_of(event)
    people = enrol(event, 4, [a])
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    cancel_registration(db.session, people[0])
    round_ = db.session.get(BreakoutRound, round_.id)
    names = [m.registration.id for g in service.preview(db.session, round_).groups
             for m in g.members]
    assert people[0] not in names
    assert people[0] not in {p.id for r in service.rosters(db.session, round_)
                             for p in r.members}
    outcome = service.rerun_newcomers(db.session, actor, event.id, round_.id)
    assert outcome.dropped == 1 and people[0] not in seating(round_.id)
    entry = db.session.execute(select(AuditEntry).where(
        AuditEntry.action == "breakout.drop")).scalar_one()
    assert entry.details == {"registration_ids": [people[0]]}


# --- Lock and publish ----------------------------------------------------------------------


def test_publish_tells_each_person_once_with_group_facilitator_and_room(app):
    event, (a, b, c) = breakout_event()
    actor = organizer_of(event)
    people = enrol(event, 5, [a, b])
    round_ = new_round(event, actor)
    with pytest.raises(DomainError, match="Run the assignment"):
        service.publish(db.session, actor, event.id, round_.id)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)

    assert service.publish(db.session, actor, event.id, round_.id) == 5
    messages = group_messages()
    assert sorted(m.registration_id for m in messages) == sorted(people)
    placed = seating(round_.id)
    by_person = {m.registration_id: m for m in messages}
    in_a = by_person[next(pid for pid in people if placed[pid] == a.id)]
    assert "企業連携" in in_a.body_text
    assert "佐藤 浩二（ダイバーシティ研究所）" in in_a.body_text
    assert "https://zoom.example.jp/j/123" in in_a.body_text
    in_b = by_person[next(pid for pid in people if placed[pid] == b.id)]
    assert "地域福祉" in in_b.body_text and "会議室B" in in_b.body_text
    assert "/r/" in in_a.body_text  # the manage link, as in every message
    round_ = db.session.get(BreakoutRound, round_.id)
    assert round_.status is RoundStatus.PUBLISHED and round_.published_at
    assert round_.locked_at is not None  # publishing locks the rankings
    assert all(s.notified_at for s in round_.assignments)

    with pytest.raises(DomainError, match="already been told"):
        service.publish(db.session, actor, event.id, round_.id)

    # A change to a told person sends them an update at once.
    mover = next(pid for pid in people if placed[pid] == b.id)
    outcome = service.move(db.session, actor, event.id, round_.id, mover, c.id)
    assert outcome.told
    update = group_messages()[-1]
    assert update.registration_id == mover and "防災" in update.body_text
    assert update.subject != messages[0].subject  # "…has changed", in their language

    # A newcomer is told on the next publish, alone.
    enrol(event, 1, [a], start=50)
    with pytest.raises(DomainError, match="1 confirmed participants have no group"):
        service.publish(db.session, actor, event.id, round_.id)
    service.rerun_newcomers(db.session, actor, event.id, round_.id)
    assert service.publish(db.session, actor, event.id, round_.id) == 1
    assert len(group_messages()) == 7
    assert audit_actions().count("breakout.publish") == 2


def test_the_manage_page_shows_the_group_once_published(client, app):
    event, (a, _b, _c) = breakout_event()
    actor = organizer_of(event)
    result = register(db.session, event.id, signup("hanako@example.jp", preferences=[a.id]))
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    client.set_cookie("lang", "en")
    page = client.get(f"/r/{result.manage_token}")
    assert "Your discussion group" not in page.text  # a draft is not shown

    service.publish(db.session, actor, event.id, round_.id)
    page = client.get(f"/r/{result.manage_token}")
    shown = text_of(page.text)
    assert "Your discussion group" in shown and "企業連携" in shown
    assert "佐藤 浩二" in shown and "ダイバーシティ研究所" in shown
    assert 'href="https://zoom.example.jp/j/123"' in page.text


def test_locking_refuses_a_new_ranking_but_not_other_answers(client, app):
    event, (a, b, c) = breakout_event()
    actor = organizer_of(event)
    result = register(db.session, event.id, signup(preferences=[a.id, b.id]))
    round_ = new_round(event, actor)
    service.lock(db.session, actor, event.id, round_.id)
    with pytest.raises(DomainError) as refused:
        update_registration(db.session, result.registration_id, answers={},
                            preferences=[b.id, a.id])
    assert refused.value.field == "preferences"
    update_registration(db.session, result.registration_id, answers={"note": "x"},
                        preferences=[a.id, b.id])  # the same ranking: fine

    client.set_cookie("lang", "en")
    page = client.get(f"/r/{result.manage_token}/edit")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    posted = client.post(f"/r/{result.manage_token}/edit", data={
        "csrf_token": token, "preference_1": str(c.id), "preference_2": str(a.id)})
    assert posted.status_code == 409
    assert "ranking can no longer be changed" in text_of(posted.text)
    registration = db.session.get(Registration, result.registration_id)
    db.session.refresh(registration)
    assert [p.group_id for p in registration.preferences] == [a.id, b.id]

    service.unlock(db.session, actor, event.id, round_.id)
    update_registration(db.session, result.registration_id, answers={},
                        preferences=[c.id])
    with pytest.raises(DomainError, match="not locked"):
        service.unlock(db.session, actor, event.id, round_.id)
    assert audit_actions()[-2:] == ["breakout.lock", "breakout.unlock"]


# --- Exports -------------------------------------------------------------------------------


def published_round(client, auth, count: int = 5) -> tuple[Event, list[BreakoutGroup],
                                                           BreakoutRound, list[int]]:
    event, groups = breakout_event()
    actor = organizer_of(event)
    people = enrol(event, count, groups[:2])
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    service.publish(db.session, actor, event.id, round_.id)
    auth.login()
    return event, groups, round_, people


def test_zoom_csv_has_zoom_header_one_row_a_person_and_a_bom(client, app, auth):
    event, groups, round_, people = published_round(client, auth)
    base = f"/console/events/{event.id}/breakouts/{round_.id}"
    response = client.get(f"{base}/zoom.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.data.startswith(codecs.BOM_UTF8)
    lines = response.data.decode("utf-8-sig").split("\r\n")
    assert lines[0] == "Pre-assign Room Name,Email Address"
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))[1:]
    placed = seating(round_.id)
    names = {g.id: g.name for g in groups}
    expected = {(names[placed[pid]], f"p{i}@example.jp") for i, pid in enumerate(people)}
    assert set(map(tuple, rows)) == expected and len(rows) == len(people)

    plain = client.get(f"{base}/zoom.csv?bom=0")
    assert not plain.data.startswith(codecs.BOM_UTF8)
    assert plain.data.decode("utf-8") == response.data.decode("utf-8-sig")
    page = text_of(client.get(f"{base}/exports").text)
    assert "signed in to a Zoom account" in page and "guests" in page


def test_zoom_and_teams_limits_give_a_message_and_no_file(client, app, auth, monkeypatch):
    event, _groups, round_, _people = published_round(client, auth)
    base = f"/console/events/{event.id}/breakouts/{round_.id}"
    monkeypatch.setattr(service, "ZOOM_MAX_PARTICIPANTS", 4)
    refused = client.get(f"{base}/zoom.csv")
    assert refused.status_code == 409 and refused.mimetype == "text/html"
    assert "Zoom pre-assigns at most 100 rooms and 4 participants per meeting, and this round " \
           "has 2 rooms and 5 participants. No file was made" in text_of(refused.text)
    exports = client.get(f"{base}/exports")
    assert "zoom.csv" not in exports.text  # no download link while over the limit

    monkeypatch.setattr(service, "TEAMS_MAX_ROOMS", 1)
    for url in (f"{base}/teams", f"{base}/teams.csv"):
        response = client.get(url)
        assert response.status_code == 409 and response.mimetype == "text/html"
        assert "at most 1 breakout rooms" in text_of(response.text)


def test_the_real_vendor_limits(app):
    group = BreakoutGroup(name="A")

    def rooms(count: int, people: int) -> list[service.Roster]:
        return [service.Roster(BreakoutGroup(name=f"R{i}"), [Registration()] * people)
                for i in range(count)] + [service.Roster(group, [])]  # empty rooms don't count

    assert service.zoom_limit_error(rooms(100, 10)) is None
    assert service.zoom_limit_error(rooms(101, 1)) is not None
    assert service.zoom_limit_error(rooms(10, 101)) is not None  # 1,010 participants
    assert service.teams_limit_error(rooms(50, 6)) is None
    assert service.teams_limit_error(rooms(51, 1)) is not None
    assert service.teams_limit_error(rooms(3, 101)) is not None  # 303 participants


def test_teams_list_and_rosters(client, app, auth):
    event, groups, round_, people = published_round(client, auth)
    base = f"/console/events/{event.id}/breakouts/{round_.id}"
    teams = client.get(f"{base}/teams")
    assert teams.status_code == 200
    shown = text_of(teams.text)
    assert "Room 1: 企業連携" in shown and "Room 2: 地域福祉" in shown and "防災" not in shown
    assert "p0@example.jp" in shown
    rows = list(csv.reader(io.StringIO(client.get(f"{base}/teams.csv").data
                                       .decode("utf-8-sig"))))
    assert rows[0] == ["Room number", "Room (group)", "Name", "Furigana", "Email address",
                       "Organisation"]
    assert len(rows) == 1 + len(people) and {r[1] for r in rows[1:]} == {"企業連携", "地域福祉"}

    rosters = text_of(client.get(f"{base}/rosters").text)
    assert "佐藤 浩二（ダイバーシティ研究所）" in rosters and "Nobody in this group yet." in rosters
    data = list(csv.reader(io.StringIO(client.get(f"{base}/rosters.csv?group={groups[0].id}")
                                       .data.decode("utf-8-sig"))))
    assert data[0][:5] == ["Group", "Facilitator", "Room", "No.", "Name"]
    placed = seating(round_.id)
    assert len(data) - 1 == sum(1 for pid in people if placed[pid] == groups[0].id)
    assert {row[0] for row in data[1:]} == {"企業連携"}
    assert data[1][7] == "Tokyo" and data[1][8] == "At the venue"


def test_csv_cells_that_look_like_formulas_are_neutralised(client, app, auth):
    event, groups = breakout_event(capacities=(5, 5, 5), names=("=HYPERLINK(1)", "B", "C"))
    actor = organizer_of(event)
    enrol(event, 2, [groups[0]])
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    auth.login()
    data = client.get(f"/console/events/{event.id}/breakouts/{round_.id}/rosters.csv").data
    assert "'=HYPERLINK(1)" in data.decode("utf-8-sig")


def test_a_facilitator_sees_only_their_groups_roster(client, app, auth):
    event, groups, round_, people = published_round(client, auth)
    client.post("/console/logout", data={"csrf_token": auth.csrf_token()})
    facilitator = make_user("facilitator@example.lg.jp", role="viewer", events=[event],
                            event_role="viewer")
    membership = db.session.execute(select(EventMembership).where(
        EventMembership.user_id == facilitator.id)).scalar_one()
    membership.breakout_group_id = groups[1].id
    db.session.commit()
    auth.login("facilitator@example.lg.jp")
    base = f"/console/events/{event.id}/breakouts/{round_.id}"
    placed = seating(round_.id)
    mine = {f"参加者 {i:03d}" for i, pid in enumerate(people) if placed[pid] == groups[1].id}
    others = {f"参加者 {i:03d}" for i, pid in enumerate(people) if placed[pid] != groups[1].id}

    page = client.get(f"{base}/rosters")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert all(name in shown for name in mine) and not any(name in shown for name in others)
    assert "企業連携" not in shown
    data = client.get(f"{base}/rosters.csv").data.decode("utf-8-sig")
    assert all(name in data for name in mine) and not any(name in data for name in others)
    assert client.get(f"{base}/rosters?group={groups[0].id}").status_code == 403
    assert client.get(f"{base}/rosters.csv?group={groups[0].id}").status_code == 403
    for url in (base, f"{base}/exports", f"{base}/zoom.csv", f"{base}/teams",
                f"{base}/teams.csv"):
        assert client.get(url).status_code == 403, url
    index = client.get(f"/console/events/{event.id}/breakouts")
    assert index.status_code == 200 and "Roster of your group" in index.text
    assert f'href="{base}"' not in index.text


# --- The console ---------------------------------------------------------------------------


def test_console_run_preview_move_pin_lock_publish(client, app, auth):
    event, (a, b, c) = breakout_event()
    organizer_of(event)
    people = enrol(event, 4, [a, b])
    auth.login()
    token = auth.csrf_token()
    index = client.get(f"/console/events/{event.id}/breakouts")
    assert index.status_code == 200 and "No rounds yet." in index.text
    created = client.post(f"/console/events/{event.id}/breakouts",
                          data={"csrf_token": token, "session_id": ""})
    assert created.status_code == 302
    round_ = db.session.execute(select(BreakoutRound)).scalar_one()
    base = f"/console/events/{event.id}/breakouts/{round_.id}"
    assert created.headers["Location"] == base

    bad = client.post(f"{base}/run", data={"csrf_token": token, "penalty": "-1"})
    assert bad.status_code == 422 and "whole number from 0 to 100" in bad.text
    ran = client.post(f"{base}/run", data={"csrf_token": token, "penalty": "2",
                                           "diversity": ["prefecture"]})
    assert ran.status_code == 302
    page = client.get(base)
    shown = text_of(page.text)
    assert "4 people placed" in shown
    # Spreading the four Tokyo residents (fair share 2) costs two of them their 1st choice.
    assert "Choice each participant got" in shown and "Choice 1 2 50.0%" in shown
    assert "Most of one value: Prefecture" in shown
    assert f'id="move-{people[3]}"' in page.text

    moved = client.post(f"{base}/move", data={"csrf_token": token,
                                              "registration_id": people[3], "group_id": c.id})
    assert moved.status_code == 302
    assert "Moved to 防災 and pinned there." in text_of(client.get(base).text)
    assert seat_of(round_.id, people[3]).pinned
    unpinned = client.post(f"{base}/pin", data={"csrf_token": token,
                                                "registration_id": people[3], "pinned": "0"})
    assert unpinned.status_code == 302 and not seat_of(round_.id, people[3]).pinned
    assert client.post(f"{base}/move", data={"csrf_token": token,
                                             "registration_id": "x"}).status_code == 400
    elsewhere = client.post(f"{base}/move", data={"csrf_token": token,
                                                  "registration_id": 999_999, "group_id": a.id})
    assert elsewhere.status_code == 302
    assert "not a confirmed participant" in text_of(client.get(base).text)

    assert client.post(f"{base}/lock", data={"csrf_token": token}).status_code == 302
    assert "Rankings locked since" in text_of(client.get(base).text)
    published = client.post(f"{base}/publish", data={"csrf_token": token})
    assert published.status_code == 302
    assert "Published: 4 participants" in text_of(client.get(base).text)
    assert len(group_messages()) == 4


def test_an_infeasible_run_is_a_conflict_with_a_clear_message(client, app, auth):
    event, (a, _b) = breakout_event(capacities=(1, 1), names=("A", "B"))
    organizer_of(event)
    enrol(event, 3, [a])
    auth.login()
    round_ = new_round(event, db.session.execute(select(User)).scalar_one())
    response = client.post(f"/console/events/{event.id}/breakouts/{round_.id}/run",
                           data={"csrf_token": auth.csrf_token(), "penalty": "2"})
    assert response.status_code == 409
    assert "The groups have 2 free places for 3 people to place: 1 more places are needed." \
        in text_of(response.text)


def breakout_rules(app) -> list:
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("console.") and "breakout" in rule.endpoint]


def build(rule, event_id: int, round_id: int) -> str:
    values = {"event_id": event_id, "round_id": round_id}
    return rule.build(values, append_unknown=False)[1]


def test_every_breakout_url_checks_access(client, app, auth):
    event, groups = breakout_event()
    theirs, _ = breakout_event(names=("X", "Y", "Z"))
    owner = organizer_of(event)
    other_owner = make_user("other@example.lg.jp", events=[theirs])
    enrol(event, 3, groups[:1])
    round_ = new_round(event, owner)
    service.run(db.session, owner, event.id, round_.id, diversity=[], penalty=2)
    their_round = new_round(theirs, other_owner)
    make_user("viewer@example.lg.jp", role="viewer", events=[event], event_role="viewer")
    rules = breakout_rules(app)
    assert len(rules) == 15 and not {r.endpoint for r in rules} & PUBLIC_ENDPOINTS

    # Anonymous: every URL sends to the login page.
    login_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                            client.get("/console/login").text).group(1)
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(build(rule, event.id, round_.id), method=method,
                                   data={"csrf_token": login_token})
            assert response.status_code == 302, (method, rule)
            assert response.headers["Location"].startswith("/console/login")

    # A viewer reads everything and changes nothing.
    auth.login("viewer@example.lg.jp")
    token = auth.csrf_token()
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(build(rule, event.id, round_.id), method=method,
                                   data={"csrf_token": token})
            assert response.status_code == (200 if method == "GET" else 403), (method, rule)
    page = client.get(f"/console/events/{event.id}/breakouts/{round_.id}")
    assert "Run the assignment" not in page.text and "move-" not in page.text

    # The organiser of this event: another event's rounds do not exist, nor do its URLs.
    client.post("/console/logout", data={"csrf_token": token})
    auth.login()
    token = auth.csrf_token()
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for event_id, round_id in ((theirs.id, their_round.id), (event.id, their_round.id)):
                if "round_id" not in rule.arguments and event_id == event.id:
                    continue
                response = client.open(build(rule, event_id, round_id), method=method,
                                       data={"csrf_token": token})
                assert response.status_code == 404, (method, rule, event_id)
    assert seating(their_round.id) == {}


def test_published_group_goes_into_the_calendar_invitation(app):
    """Issue 5: once groups are published, the invitation's description names them."""
    import icalendar

    from app.models import Registration
    from app.services.invitations import personal_calendar_event

    event, (a, b, c) = breakout_event()
    actor = organizer_of(event)
    people = enrol(event, 3, [a, b])
    round_ = new_round(event, actor)
    service.run(db.session, actor, event.id, round_.id, diversity=[], penalty=2)
    service.publish(db.session, actor, event.id, round_.id)
    placed = seating(round_.id)
    groups = {group.id: group for group in (a, b, c)}
    for message in group_messages():
        invitation = message.payload["calendar"]
        assert invitation["method"] == "REQUEST"
        vevent = icalendar.Calendar.from_ical(invitation["ics"]).walk("VEVENT")[0]
        group = groups[placed[message.registration_id]]
        description = str(vevent["DESCRIPTION"])
        assert group.name in description and group.facilitator_name in description
    # The manage page's download and the personal feed build the same description.
    registration = db.session.get(Registration, people[0])
    later = personal_calendar_event(registration, manage_url="http://localhost/r/x")
    assert groups[placed[people[0]]].name in later.description
