"""Finding tickets: filters, full-text search (tickets.search) and a requester's earlier tickets.
The queries `ventanilla tickets list` and `tickets show` run (and bench.tickets_list measures)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, select, text
from sqlmodel import Session

from tickets import search
from tickets.models import Ticket

STATUSES = ("open", "pending", "escalated", "resolved", "closed")
PRIORITIES = ("normal", "high", "urgent")
_T: Any = Ticket.__table__.c  # type: ignore[attr-defined]
# The tickets whose search_text holds one stem of every group (one statement per database).
_MATCH = {
    "sqlite": "SELECT rowid FROM search_fts WHERE search_fts MATCH :q",
    "postgresql": "SELECT ticket_id FROM search_text WHERE terms_tsv @@ CAST(:q AS tsquery)",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketFilter:
    """What `tickets list` narrows to; empty fields filter nothing."""

    status: str = ""
    requester: str = ""
    agent: str = ""
    category: str = ""
    priority: str = ""
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    search: str = ""


def _search_clause(text_query: str, dialect: str) -> ColumnElement[bool]:
    """`id IN (the tickets that have every word of the search)`."""
    groups = search.query_groups(text_query)
    if not groups:
        return _T.id.is_(None)  # nothing searchable in it ("!!!"): nothing matches
    if dialect == "sqlite":
        query, template = " AND ".join(f"({search.fts5_query(g)})" for g in groups), _MATCH["sqlite"]
    else:
        query, template = " & ".join(f"({search.tsquery(g)})" for g in groups), _MATCH["postgresql"]
    sub = text(template).bindparams(bindparam("q", query)).columns(ticket_id=_T.id.type)
    return _T.id.in_(sub)


def _where(f: TicketFilter, dialect: str) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    for column, value in (
        (_T.status, f.status),
        (_T.category, f.category),
        (_T.priority, f.priority),
        (_T.requester_email, f.requester.strip().lower()),
        (_T.assigned_agent, f.agent.strip().lower()),
    ):
        if value:
            clauses.append(column == value)
    if f.since is not None:
        clauses.append(_T.created_at >= f.since)
    if f.until is not None:
        clauses.append(_T.created_at < f.until)
    if f.search.strip():
        clauses.append(_search_clause(f.search, dialect))
    return and_(True, *clauses)


def list_tickets(session: Session, f: TicketFilter, *, limit: int) -> tuple[list[Ticket], int]:
    """The newest tickets first (at most `limit`; 0 = all) and how many match in all."""
    where = _where(f, session.get_bind().dialect.name)
    connection = session.connection()
    total = int(connection.execute(select(func.count()).select_from(Ticket).where(where)).scalar() or 0)
    query = select(Ticket).where(where).order_by(_T.id.desc())
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query)), total


def earlier_tickets(session: Session, ticket: Ticket, *, limit: int = 5) -> list[Ticket]:
    """The requester's tickets before this one, newest first (customer history)."""
    query = (
        select(Ticket)
        .where(_T.requester_email == ticket.requester_email, _T.id < ticket.id)
        .order_by(_T.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
