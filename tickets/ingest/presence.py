"""Which workers are alive on a mailbox: each one says so every few seconds, so that the one
holding the poller lease knows whether to hand the mail it reads over to the others.

(No `from __future__ import annotations` here: sqlmodel#196.)
"""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Field, Session, SQLModel

from tickets.inserts import insert_ignore
from tickets.models import utc_column


class WorkerPresence(SQLModel, table=True):
    """One worker process on one mailbox, alive until `seen_until` unless it says so again."""

    __tablename__ = "worker_presence"
    holder: str = Field(primary_key=True, max_length=200)
    mailbox: str = Field(max_length=200, index=True)
    seen_until: datetime = utc_column()


_TABLE: Any = WorkerPresence.__table__  # type: ignore[attr-defined]
_P = _TABLE.c


def announce(session: Session, *, holder: str, mailbox: str, until: datetime) -> None:
    """This worker is alive on `mailbox` until `until` (an upsert)."""
    changed = session.connection().execute(
        update(_TABLE).where(_P.holder == holder).values(mailbox=mailbox, seen_until=until)
    )
    if not changed.rowcount:
        insert_ignore(session, WorkerPresence, {"holder": holder, "mailbox": mailbox, "seen_until": until})


def peers(session: Session, *, holder: str, mailbox: str, now: datetime) -> int:
    """How many other workers said they are alive on `mailbox` and have not run out."""
    query = select(func.count()).where(_P.mailbox == mailbox, _P.holder != holder, _P.seen_until > now)
    return int(session.connection().execute(query).scalar() or 0)


def leave(session: Session, *, holder: str, now: datetime) -> None:
    """This worker stops (and forget workers that ran out long ago)."""
    session.connection().execute(_TABLE.delete().where((_P.holder == holder) | (_P.seen_until < now)))
