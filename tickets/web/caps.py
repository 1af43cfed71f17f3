"""The web form's abuse caps, counted in the database so that every worker agrees."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlmodel import Session

from tickets.web.models import WebSubmission

_W = WebSubmission.__table__.c  # type: ignore[attr-defined]
WINDOW = timedelta(hours=1)
KEEP = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Caps:
    per_ip_per_hour: int
    per_email_per_hour: int


def over_cap(counts: tuple[int, int], caps: Caps) -> str:
    """Which cap one more submission would pass ("ip", "email"), "" when none. Pure."""
    by_ip, by_email = counts
    if by_ip >= caps.per_ip_per_hour:
        return "ip"
    if by_email >= caps.per_email_per_hour:
        return "email"
    return ""


def slot_frees_at(times: Sequence[datetime], cap: int) -> datetime | None:
    """When the window will count fewer than `cap` of these submissions (all in the window now),
    None when it does already. Pure."""
    if len(times) < cap:
        return None
    return sorted(times)[len(times) - cap] + WINDOW  # that many must leave the window


def retry_after_seconds(frees_at: datetime, now: datetime) -> int:
    """The Retry-After of a refusal: whole seconds until `frees_at`, at least 1. Pure."""
    return max(1, math.ceil((frees_at - now).total_seconds()))


def recent_counts(session: Session, *, ip_key: str, email_key: str, now: datetime) -> tuple[int, int]:
    """Submissions in the last hour from this client and for this address."""
    since = now - WINDOW
    by_ip = session.scalar(select(func.count()).where(_W.ip_key == ip_key, _W.at > since)) or 0
    by_email = session.scalar(select(func.count()).where(_W.email_key == email_key, _W.at > since)) or 0
    return int(by_ip), int(by_email)


def admit(session: Session, *, ip_key: str, email_key: str, now: datetime, caps: Caps) -> str:
    """Count this submission unless a cap is reached: "" when admitted, else the cap ("ip", "email").

    On PostgreSQL a transaction-scoped advisory lock on the client's key serialises concurrent
    submissions of one client (and of one address) across workers, so two of them cannot both pass the last place."""
    if session.get_bind().dialect.name == "postgresql":
        for key in (ip_key, email_key):  # always in this order: no deadlock between two submissions
            session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("web:" + key, 0))))
    cap = over_cap(recent_counts(session, ip_key=ip_key, email_key=email_key, now=now), caps)
    if not cap:
        session.execute(insert(WebSubmission.__table__), {"at": now, "ip_key": ip_key, "email_key": email_key})  # type: ignore[attr-defined]
        session.execute(delete(WebSubmission.__table__).where(_W.at < now - KEEP))  # type: ignore[attr-defined]
    return cap


def next_admission(session: Session, *, ip_key: str, email_key: str, now: datetime, caps: Caps) -> datetime:
    """When a submission refused now would be admitted: once every cap it reached has a free slot."""
    since = now - WINDOW
    frees = [
        slot_frees_at(session.scalars(select(_W.at).where(column == key, _W.at > since)).all(), cap)
        for column, key, cap in (
            (_W.ip_key, ip_key, caps.per_ip_per_hour),
            (_W.email_key, email_key, caps.per_email_per_hour),
        )
    ]
    return max([now, *(f for f in frees if f is not None)])
