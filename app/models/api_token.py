"""Personal API tokens: an organizer's systems act through the JSON API as that organizer.

Only the SHA-256 of a token is stored. A token is 256 random bits, so a plain hash is as
strong as a password hash would be and lets every request find its token with one indexed
lookup; the database alone cannot be used to call the API.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.user import User
from app.orm import utcnow


class ApiToken(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("length(token_hash) = 64", name="token_hash_length"),
        CheckConstraint("length(name) > 0", name="name_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # What the organizer calls it ("会計システム連携"), to tell tokens apart when revoking one.
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token (its prefix and a few random ones), shown in the list
    # so that the organizer can recognise a token found in a configuration file.
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
