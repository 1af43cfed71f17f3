"""SLA tables. (No `from __future__ import annotations` here: sqlmodel#196.)"""

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from tickets.models import utc_column


class SlaAlert(SQLModel, table=True):
    """One threshold of one response cycle that fired; the UNIQUE key makes a repeat impossible."""

    __tablename__ = "sla_alert"
    __table_args__ = (
        UniqueConstraint("ticket_id", "cycle", "threshold", name="uq_sla_alert"),
        Index("ix_sla_alert_due", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    cycle: int
    threshold: str = Field(max_length=20)
    due_at: datetime = utc_column()  # when the threshold was reached
    fired_at: datetime = utc_column()  # the sweep's `now`
    late_seconds: int = 0  # fired_at - due_at: how late a catch-up alert was
