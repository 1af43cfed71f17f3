"""Gathers the facts of tickets.status.facts from the database: a few grouped counts on indexed
columns (status first), so a scrape every few seconds costs little and every worker agrees."""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.engine import Connection

from tickets.ingest.rules import OPEN_STATUSES
from tickets.models import MailboxState, Outbox, Receipt, Ticket, UTCDateTime
from tickets.sla.models import SlaAlert
from tickets.sla.policy import SlaPolicy
from tickets.status.facts import StatusFacts

_M: Any = MailboxState.__table__.c  # type: ignore[attr-defined]
_R: Any = Receipt.__table__.c  # type: ignore[attr-defined]
_T: Any = Ticket.__table__.c  # type: ignore[attr-defined]
_O: Any = Outbox.__table__.c  # type: ignore[attr-defined]
_A: Any = SlaAlert.__table__.c  # type: ignore[attr-defined]


# The statuses a row is in while it still needs something (few rows, found through the status
# index); the others only grow (every message ever ticketed, every mail ever sent): counting them
# reads the whole index, so it is asked for only with `totals` (tickets.status.facts.StatusFacts).
LIVE = {
    "receipt": ("received", "failed", "quarantined"),
    "ticket": ("open", "pending", "escalated"),
    "outbox": ("queued", "failed"),
}


def _by(connection: Connection, column: Any, only: tuple[str, ...] | None = None) -> dict[str, int]:
    query = select(column, func.count()).group_by(column)
    if only is not None:
        query = query.where(column.in_(only))
    return {str(key): int(n) for key, n in connection.execute(query)}


# Through the status index: on a large outbox SQLite's planner otherwise reads the whole table
# (80 ms at 1,000,000 rows instead of well under 1 ms; bench/status.py).
_OLDEST_SQLITE = text(
    "SELECT min(created_at) AS oldest FROM outbox INDEXED BY ix_outbox_status_next WHERE status = 'queued'"
).columns(oldest=UTCDateTime())


def _oldest_queued(connection: Connection, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(creation of the oldest queued message, the earliest due time among those due now)."""
    queued = _O.status == "queued"
    created = connection.execute(_OLDEST_SQLITE if connection.dialect.name == "sqlite" else
                                 select(func.min(_O.created_at)).where(queued)).scalar()
    due = connection.execute(select(func.min(_O.next_attempt_at)).where(queued, _O.next_attempt_at <= now)).scalar()
    return created, due


def _sla_counts(connection: Connection, now: datetime, sla: SlaPolicy) -> tuple[int, int]:
    """(nearing, past): tickets waiting for an answer whose response is due within the warning
    lead, and those whose response due time passed (index ix_ticket_status_due)."""
    unanswered = or_(_T.first_answered_at.is_(None), _T.first_answered_at < _T.cycle_started_at)
    waiting = and_(_T.status.in_(OPEN_STATUSES), _T.response_due_at <= sla.horizon(now), unanswered)
    past = func.coalesce(func.sum(case((_T.response_due_at <= now, 1), else_=0)), 0)
    row = connection.execute(select(func.count(), past).where(waiting)).one()
    return int(row[0]) - int(row[1]), int(row[1])


def gather_facts(
    connection: Connection, *, now: datetime, mailbox: str, sla: SlaPolicy, totals: bool = True
) -> StatusFacts:
    """Every fact of the status at `now`, read in the caller's transaction. Without `totals`, the
    counts by status hold only the LIVE statuses and no alert counts: what health needs, and a
    cost that grows with the work waiting, not with the history kept."""
    state = connection.execute(select(_M.polled_at, _M.lease_owner, _M.lease_until).where(_M.name == mailbox)).first()
    reader = state.lease_owner if state and state.lease_until is not None and state.lease_until > now else ""
    oldest_queued, oldest_due = _oldest_queued(connection, now)
    nearing, past = _sla_counts(connection, now, sla)
    return StatusFacts(
        now=now,
        mailbox=mailbox,
        polled_at=state.polled_at if state else None,
        lease_owner=reader,  # an expired lease names nobody: its holder is gone
        receipts=_by(connection, _R.status, None if totals else LIVE["receipt"]),
        tickets=_by(connection, _T.status, None if totals else LIVE["ticket"]),
        outbox=_by(connection, _O.status, None if totals else LIVE["outbox"]),
        oldest_queued_at=oldest_queued,
        oldest_due_at=oldest_due,
        sla_alerts=_by(connection, _A.threshold) if totals else {},
        sla_nearing=nearing,
        sla_past=past,
    )
