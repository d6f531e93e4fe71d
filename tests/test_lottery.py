"""The lottery: entries hold no seat, the draw is tiered, fair, recorded and reproducible."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import LotteryDraw, OutboxMessage, Registration
from app.models.enums import MessageKind, RegistrationStatus, SignupState
from app.orm import utcnow
from app.services import lottery
from app.services import registration as service
from tests.factories import make_lottery_event, signup


def enter(event, count, residence="その他", prefix="p"):
    return [service.register(db.session, event.id, signup(
        f"{prefix}{i}@example.jp", answers={"residence": residence})) for i in range(count)]


def statuses(event) -> dict[int, RegistrationStatus]:
    db.session.expire_all()
    rows = db.session.execute(select(Registration.id, Registration.status).where(
        Registration.event_id == event.id)).all()
    return dict(rows)


def after_draw_date(event):
    return event.lottery_draw_at + timedelta(minutes=1)


def test_entries_wait_for_the_draw_and_hold_no_seat(app):
    event = make_lottery_event(capacity=2)
    results = enter(event, 5)
    assert {r.status for r in results} == {RegistrationStatus.LOTTERY_PENDING}
    assert event.seat_pools[0].taken == 0
    kinds = set(db.session.execute(select(OutboxMessage.kind)).scalars())
    assert kinds == {MessageKind.LOTTERY_ENTERED}


def test_draw_confirms_capacity_and_waitlists_the_rest_in_drawn_order(app):
    event = make_lottery_event(capacity=3)
    enter(event, 8)
    summary = lottery.draw(db.session, event.id, seed="fixed-seed", now=after_draw_date(event))
    assert (summary.won, summary.waitlisted, summary.not_drawn) == (3, 5, 0)
    record = db.session.execute(select(LotteryDraw)).scalar_one()
    order = record.result["order"]
    assert sorted(order) == sorted(statuses(event))
    by_id = {r.id: r for r in db.session.execute(select(Registration)).scalars()}
    assert [by_id[i].status for i in order] == [RegistrationStatus.CONFIRMED] * 3 + [
        RegistrationStatus.WAITLISTED] * 5
    # The waiting list follows the drawn order exactly.
    waiting = [by_id[i] for i in order[3:]]
    assert [service.waitlist_position(db.session, r) for r in waiting] == [1, 2, 3, 4, 5]
    assert db.session.get(type(event), event.id).seat_pools[0].taken == 3
    won = db.session.execute(select(OutboxMessage.registration_id).where(
        OutboxMessage.kind == MessageKind.LOTTERY_WON)).scalars()
    assert sorted(won) == sorted(order[:3])


def test_priority_tiers_are_drawn_first(app):
    event = make_lottery_event(capacity=4)
    others = enter(event, 6, residence="その他", prefix="o")
    workers = enter(event, 2, residence="区内在勤・在学", prefix="w")
    residents = enter(event, 3, residence="区内在住", prefix="r")
    lottery.draw(db.session, event.id, seed="s", now=after_draw_date(event))
    result = statuses(event)
    assert all(result[r.registration_id] is RegistrationStatus.CONFIRMED for r in residents)
    won_workers = [w for w in workers if result[w.registration_id] is RegistrationStatus.CONFIRMED]
    assert len(won_workers) == 1
    assert all(result[o.registration_id] is RegistrationStatus.WAITLISTED for o in others)
    tiers = {r.id: r.lottery_tier for r in db.session.execute(select(Registration)).scalars()}
    assert {tiers[r.registration_id] for r in residents} == {1}
    assert {tiers[o.registration_id] for o in others} == {3}


def test_the_draw_reproduces_from_its_seed_and_inputs(app):
    event = make_lottery_event(capacity=5)
    enter(event, 30)
    lottery.draw(db.session, event.id, seed="public-seed-2026", now=after_draw_date(event))
    assert lottery.verify_draw(db.session, event.id)
    record = db.session.execute(select(LotteryDraw)).scalar_one()
    assert lottery.drawn_order(record.inputs["entrants"], "public-seed-2026") == (
        record.result["order"])
    assert lottery.drawn_order(record.inputs["entrants"], "another-seed") != record.result["order"]
    record.result = {"order": list(reversed(record.result["order"]))}
    db.session.commit()
    assert not lottery.verify_draw(db.session, event.id)


def test_the_draw_is_fair_across_seeds():
    entrants = [[i, 1, "in_person"] for i in range(10)]
    first_places = [lottery.drawn_order(entrants, f"seed-{n}")[0] for n in range(2000)]
    counts = [first_places.count(i) for i in range(10)]
    # Each of 10 entrants should come first about 200 times in 2000 draws.
    assert min(counts) > 140 and max(counts) < 260, counts


def test_without_a_waitlist_the_unlucky_are_not_drawn(app):
    event = make_lottery_event(capacity=1, waitlist_enabled=False)
    enter(event, 3)
    summary = lottery.draw(db.session, event.id, seed="x", now=after_draw_date(event))
    assert (summary.won, summary.waitlisted, summary.not_drawn) == (1, 0, 2)
    assert sorted(statuses(event).values()) == sorted(
        [RegistrationStatus.CONFIRMED] + [RegistrationStatus.NOT_DRAWN] * 2)


def test_draw_runs_once_and_not_before_its_date(app):
    event = make_lottery_event(capacity=1)
    enter(event, 2)
    with pytest.raises(lottery.LotteryError):
        lottery.draw(db.session, event.id, now=utcnow())
    lottery.draw(db.session, event.id, now=utcnow(), force=True)
    with pytest.raises(lottery.LotteryError):
        lottery.draw(db.session, event.id, now=after_draw_date(event), force=True)


def test_entries_close_at_the_draw_date_and_first_come_follows_the_draw(app):
    event = make_lottery_event(capacity=2)
    enter(event, 1)
    draw_time = after_draw_date(event)
    assert event.signup_state(draw_time) is SignupState.DRAW_PENDING
    with pytest.raises(service.RegistrationClosed):
        service.register(db.session, event.id, signup("late@example.jp"), now=draw_time)
    lottery.draw(db.session, event.id, seed="x", now=draw_time)
    late = service.register(db.session, event.id, signup("late@example.jp"), now=draw_time)
    assert late.status is RegistrationStatus.CONFIRMED
    later = service.register(db.session, event.id, signup("later@example.jp"), now=draw_time)
    assert later.status is RegistrationStatus.WAITLISTED


def test_cli_draws_and_verifies(app):
    event = make_lottery_event(capacity=1)
    enter(event, 4)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["lottery", "draw", event.slug])
    assert refused.exit_code != 0 and "抽選日" in refused.output  # commands speak Japanese
    result = runner.invoke(args=["lottery", "draw", event.slug, "--seed", "abc", "--force"])
    assert result.exit_code == 0, result.output
    assert "4 entrants, 1 won, 3 waitlisted" in result.output and "seed abc" in result.output
    verified = runner.invoke(args=["lottery", "verify", event.slug])
    assert verified.exit_code == 0 and "reproduces" in verified.output
    unknown = runner.invoke(args=["lottery", "draw", "no-such-event"])
    assert unknown.exit_code != 0
