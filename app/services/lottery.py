"""A fair, repeatable lottery (抽選) with priority tiers.

Entrants are ordered by tier (the first rule their answers meet; everyone else last), and
shuffled within each tier by Python's Mersenne Twister seeded with a recorded seed string.
The seed and the exact inputs are stored, so anyone can re-run the draw and must get the
same order: `verify_draw` does exactly that.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.database import SessionLike, write_transaction
from app.models import Event, LotteryDraw, Registration
from app.models.enums import MessageKind, RegistrationMode, RegistrationStatus
from app.orm import utcnow
from app.services.errors import DomainError
from app.services.messages import queue_message
from app.services.registration import claim_seat, next_waitlist_seq

ALGORITHM = "tiered-shuffle-v1"


class LotteryError(DomainError):
    code = "lottery_error"


@dataclass(frozen=True)
class DrawSummary:
    event_slug: str
    seed: str
    entrants: int
    won: int
    waitlisted: int
    not_drawn: int


def tier_for(answers: dict[str, Any], rules: list[dict[str, Any]]) -> int:
    """1 for the first rule met, 2 for the second...; len(rules)+1 for everyone else."""
    for index, rule in enumerate(rules, start=1):
        answer = answers.get(str(rule.get("question")))
        given = answer if isinstance(answer, list) else [answer]
        if any(value in rule.get("any_of", []) for value in given):
            return index
    return len(rules) + 1


def drawn_order(entrants: list[list[Any]], seed: str) -> list[int]:
    """Registration ids in drawn order, from [[id, tier, mode], ...] and the seed alone."""
    rng = random.Random(seed)
    order: list[int] = []
    for tier in sorted({int(entry[1]) for entry in entrants}):
        ids = sorted(int(entry[0]) for entry in entrants if int(entry[1]) == tier)
        rng.shuffle(ids)
        order.extend(ids)
    return order


def draw(
    session: SessionLike,
    event_id: int,
    *,
    seed: str | None = None,
    now: datetime | None = None,
    force: bool = False,
) -> DrawSummary:
    now = now or utcnow()
    seed = seed or secrets.token_hex(16)
    with write_transaction(session):
        event = session.get(Event, event_id, populate_existing=True, with_for_update=True)
        if event is None or event.registration_mode is not RegistrationMode.LOTTERY:
            raise LotteryError(_l("This event has no lottery."))
        if event.lottery_drawn_at is not None:
            raise LotteryError(_l("The lottery for this event has already been drawn."))
        assert event.lottery_draw_at is not None
        if now < event.lottery_draw_at and not force:
            raise LotteryError(_l("Entries are still open until the draw date."))
        registrations = session.execute(
            select(Registration)
            .where(
                Registration.event_id == event_id,
                Registration.status == RegistrationStatus.LOTTERY_PENDING,
            )
            .order_by(Registration.id)
        ).scalars()
        by_id = {registration.id: registration for registration in registrations}
        entrants = []
        for registration in by_id.values():
            registration.lottery_tier = tier_for(registration.answers, event.lottery_tiers)
            entrants.append(
                [registration.id, registration.lottery_tier, registration.attendance_mode.value]
            )
        order = drawn_order(entrants, seed)
        counts = {"won": 0, "waitlisted": 0, "not_drawn": 0}
        for registration_id in order:
            registration = by_id[registration_id]
            if claim_seat(session, event_id, registration.attendance_mode):
                registration.confirm(now)
                counts["won"] += 1
                queue_message(session, MessageKind.LOTTERY_WON, registration)
                continue
            if event.waitlist_enabled:
                registration.waitlist(next_waitlist_seq(session, event_id))
                counts["waitlisted"] += 1
            else:
                registration.not_drawn()
                counts["not_drawn"] += 1
            queue_message(
                session,
                MessageKind.LOTTERY_NOT_DRAWN,
                registration,
                waitlisted=registration.status is RegistrationStatus.WAITLISTED,
            )
        session.add(
            LotteryDraw(
                event_id=event_id,
                algorithm=ALGORITHM,
                seed=seed,
                inputs={
                    "entrants": entrants,
                    "tiers": event.lottery_tiers,
                    "capacities": {
                        pool.mode.value: pool.capacity for pool in event.seat_pools
                    },
                },
                result={"order": order},
                drawn_at=now,
            )
        )
        event.lottery_drawn_at = now
        slug = event.slug
    return DrawSummary(slug, seed, len(order), counts["won"], counts["waitlisted"],
                       counts["not_drawn"])


def verify_draw(session: SessionLike, event_id: int) -> bool:
    """Re-run the recorded draw from its seed and inputs; true when the order is identical."""
    record = session.execute(
        select(LotteryDraw).where(LotteryDraw.event_id == event_id)
    ).scalar_one_or_none()
    if record is None:
        raise LotteryError(_l("This event has no recorded draw."))
    return drawn_order(record.inputs["entrants"], record.seed) == record.result["order"]
