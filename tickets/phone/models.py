"""Phone call log table, and the indexes the monthly report reads through.

(No `from __future__ import annotations` here: sqlmodel#196.)
"""

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from tickets.models import Event, Message, utc_column


class Call(SQLModel, table=True):
    """One call of the call-centre log; the UNIQUE natural key makes a re-import add nothing."""

    __tablename__ = "phone_call"
    __table_args__ = (
        UniqueConstraint("line", "started_at", "caller_phone", "caller_email", "outcome", name="uq_phone_call_natural"),
        Index("ix_phone_call_started", "started_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = utc_column()
    line: str = Field(default="general", max_length=40)
    outcome: str = Field(default="answered", max_length=20)  # answered | lost | abandoned
    wait_seconds: int = 0
    duration_seconds: int = 0
    caller_phone: str = Field(default="", max_length=40)
    caller_email: str = Field(default="", max_length=320)
    caller_name: str = Field(default="", max_length=500)
    agent: str = Field(default="", max_length=320)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    followup: str = Field(default="", max_length=20)  # "" | phone_followup | missed_call: the mail queued
    recorded_at: datetime = utc_column()


# The monthly report selects messages and events by kind and time; without these it scans.
Index("ix_message_kind_created", Message.__table__.c.kind, Message.__table__.c.created_at)  # type: ignore[attr-defined]
Index("ix_event_kind_at", Event.__table__.c.kind, Event.__table__.c.at)  # type: ignore[attr-defined]
# Per-ticket timelines (response times, escalations) without table statistics (SQLite never runs ANALYZE).
Index(
    "ix_message_ticket_kind_created",
    Message.__table__.c.ticket_id,  # type: ignore[attr-defined]
    Message.__table__.c.kind,  # type: ignore[attr-defined]
    Message.__table__.c.created_at,  # type: ignore[attr-defined]
    Message.__table__.c.direction,  # type: ignore[attr-defined]
)
