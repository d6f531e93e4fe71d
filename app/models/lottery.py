"""The record of a lottery draw: enough to re-run it and get the same result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.orm import JSONType, utcnow


class LotteryDraw(db.Model):  # type: ignore[name-defined]
    __tablename__ = "lottery_draws"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    algorithm: Mapped[str] = mapped_column(String(40))
    seed: Mapped[str] = mapped_column(String(64))
    # Entrants as [registration id, tier, attendance mode] and the capacities drawn for.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # Registration ids in drawn order, per attendance mode.
    result: Mapped[dict[str, Any]] = mapped_column(JSONType)
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)
