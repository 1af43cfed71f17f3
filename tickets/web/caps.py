"""The web form's abuse caps, counted in the database so that every worker agrees."""

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
