"""The web form's submission log, read by the abuse caps. (No `from __future__ import annotations`: sqlmodel#196.)

The client address and the email address are kept only as keyed hashes (HMAC with the instance
secret): enough to count, never readable. Rows older than a day serve nothing and are pruned.
"""

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from tickets.models import utc_column


class WebSubmission(SQLModel, table=True):
    """One accepted submission (spam included), for the per-address and per-client caps."""

    __tablename__ = "web_submission"
    __table_args__ = (
        Index("ix_web_submission_ip_at", "ip_key", "at"),
        Index("ix_web_submission_email_at", "email_key", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_column()
    ip_key: str = Field(max_length=64)
    email_key: str = Field(max_length=64)
