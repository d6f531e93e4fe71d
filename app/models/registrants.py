"""What the organizer console's registrant pages add to the schema.

Two indexes let the registrant list of a 10,000-person event walk an index in its two usual
orders (furigana, date of registration) instead of sorting the whole event for every page.
They are declared here, beside the feature that needs them, and attach to the registrations
table like the indexes declared in its class.

An import is staged in `import_batches` between the upload and the organizer's decision:
the database, unlike the instance folder, is shared by every worker and every host, and the
row ties the file to one user and one event so that nobody else can read or accept it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.registration import Registration
from app.orm import JSONType, utcnow

Index("ix_registrations_event_furigana", Registration.event_id, Registration.furigana_key,
      Registration.id)
Index("ix_registrations_event_created", Registration.event_id, Registration.created_at,
      Registration.id)


class ImportBatch(db.Model):  # type: ignore[name-defined]
    """An uploaded file waiting for its column mapping, preview and acceptance."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The batch's address in URLs: random, so that ids cannot be guessed or enumerated.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    content: Mapped[bytes] = mapped_column(LargeBinary)
    encoding: Mapped[str] = mapped_column(String(20))
    row_count: Mapped[int] = mapped_column(Integer)
    # {"columns": {field: column index}, "defaults": {field: value}} once the mapping is saved.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
