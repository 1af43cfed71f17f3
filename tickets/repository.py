"""Queries shared by the features (threads are written by tickets.threads). Never commits."""

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from tickets.ingest.rules import TicketFacts
from tickets.inserts import insert_ignore
from tickets.models import (
    Blob,
    Event,
    Message,
    Outbox,
    Participant,
    Receipt,
    Ticket,
)


def put_blob(session: Session, sha256: str, data: bytes) -> None:
    insert_ignore(session, Blob, {"sha256": sha256, "size": len(data), "data": data})


def get_blob(session: Session, sha256: str) -> bytes | None:
    blob = session.get(Blob, sha256)
    return None if blob is None else blob.data


def participants(session: Session, ticket_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = list(ticket_ids)
    result: dict[int, set[str]] = {i: set() for i in ids}
    if not ids:
        return result
    query = select(Participant.ticket_id, Participant.email).where(Participant.ticket_id.in_(ids))  # type: ignore[attr-defined]
    for ticket_id, email in session.execute(query):
        result[ticket_id].add(email)
    return result


def ticket_facts(session: Session, ticket_ids: Iterable[int]) -> list[TicketFacts]:
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        return []
    who = participants(session, ids)
    rows = session.execute(select(Ticket.id, Ticket.status).where(Ticket.id.in_(ids)))  # type: ignore[union-attr]
    status = {tid: st for tid, st in rows}
    return [TicketFacts(id=i, status=status[i], participants=frozenset(who[i])) for i in ids if i in status]


def tickets_by_message_ids(session: Session, message_ids: Sequence[str]) -> list[int]:
    """Tickets owning any of these Message-IDs (sent or received), most recent reference first."""
    ids = [m for m in message_ids if m][-50:]
    if not ids:
        return []
    query = select(Message.message_id, Message.ticket_id).where(Message.message_id.in_(ids))  # type: ignore[attr-defined]
    owner = {mid: tid for mid, tid in session.execute(query)}
    return list(dict.fromkeys(owner[m] for m in reversed(ids) if m in owner))


# What our robots send (Auto-Submitted); agent replies and phone follow-ups are written by people.
AUTOMATIC_KINDS = (
    "ack",
    "agent_notification",
    "command_error",
    "sla_alert",
    "ticket_closed",
    "missed_call",
    "reply_held",
)


def automatic_kind_among(session: Session, message_ids: Sequence[str]) -> str:
    """The kind of the first of our automatic messages (an ack, a notification...) named by these
    Message-IDs, or "": a message whose In-Reply-To or References name one answers a robot."""
    ids = [m for m in dict.fromkeys(message_ids) if m][-50:]
    if not ids:
        return ""
    query = (
        select(Message.kind)
        .where(col(Message.message_id).in_(ids), Message.direction == "out", col(Message.kind).in_(AUTOMATIC_KINDS))
        .limit(1)
    )
    return session.exec(query).first() or ""


def tickets_mailed_to(session: Session, message_ids: Sequence[str], email: str) -> list[int]:
    """Tickets of the mail we sent to `email` among these Message-IDs, most recent reference first."""
    ids = [m for m in message_ids if m][-50:]
    if not ids or not email:
        return []
    query = select(Message.message_id, Message.ticket_id, Message.to_addrs).where(
        Message.message_id.in_(ids),  # type: ignore[attr-defined]
        Message.direction == "out",
    )
    wanted = email.strip().lower()
    owner = {
        mid: tid for mid, tid, to in session.execute(query) if wanted in (a.strip().lower() for a in to.split(","))
    }
    return list(dict.fromkeys(owner[m] for m in reversed(ids) if m in owner))


def outbox_by_message_ids(session: Session, message_ids: Sequence[str]) -> Outbox | None:
    """The outbox row of the first of these Message-IDs that is one of our outgoing messages.

    Looked up through the ticket thread's copy (message.message_id is indexed, outbox.message_id
    is not), then the outbox rows of those tickets; mail of no ticket is not found."""
    ids = [m for m in message_ids if m][:10]
    if not ids:
        return None
    sent = select(Message.ticket_id).where(Message.message_id.in_(ids), Message.direction == "out")  # type: ignore[attr-defined]
    tickets = list(dict.fromkeys(session.scalars(sent)))
    if not tickets:
        return None
    query = select(Outbox).where(Outbox.ticket_id.in_(tickets), Outbox.message_id.in_(ids))  # type: ignore[union-attr,attr-defined]
    rows = {row.message_id: row for row in session.scalars(query)}
    return next((rows[m] for m in ids if m in rows), None)


def count_outbox_since(session: Session, *, kind: str, recipient: str, since: datetime) -> int:
    params = {"kind": kind, "rcpt": recipient, "since": since}
    return int(session.connection().execute(_outbox_count(), params).scalar() or 0)


def count_outbox_since_by_recipient(
    session: Session, *, kind: str, recipients: list[str], since: datetime
) -> dict[str, int]:
    """`count_outbox_since` for many single recipients in one query (those with none are absent)."""
    if not recipients:
        return {}
    c = Outbox.__table__.c  # type: ignore[attr-defined]
    query = (
        select(c.recipients, func.count())
        .where(c.kind == kind, c.recipients.in_(recipients), c.created_at >= since)
        .group_by(c.recipients)
    )
    return {str(rcpt): int(n) for rcpt, n in session.connection().execute(query)}


def requesters_with_tickets(session: Session, emails: list[str]) -> set[str]:
    """Those of these addresses that requested a ticket (any status)."""
    if not emails:
        return set()
    column = Ticket.__table__.c.requester_email  # type: ignore[attr-defined]
    query = select(column).where(column.in_(emails)).distinct()
    return set(session.connection().execute(query).scalars())


@functools.cache
def _outbox_count() -> Any:
    """Built once: ingest asks this for every acknowledgement (the rate limit)."""
    c = Outbox.__table__.c  # type: ignore[attr-defined]
    return (
        select(func.count())
        .select_from(Outbox.__table__)  # type: ignore[attr-defined]
        .where(
            c.kind == bindparam("kind"),
            c.recipients == bindparam("rcpt"),
            c.created_at >= bindparam("since", type_=c.created_at.type),
        )
    )


def list_tickets(session: Session, *, status: str | None = None, limit: int = 1000) -> list[Ticket]:
    query = select(Ticket).order_by(Ticket.id)  # type: ignore[arg-type]
    if status:
        query = query.where(Ticket.status == status)
    return list(session.scalars(query.limit(limit)))


def ticket_messages(session: Session, ticket_id: int) -> list[Message]:
    query = select(Message).where(Message.ticket_id == ticket_id).order_by(Message.created_at, Message.id)  # type: ignore[arg-type]
    return list(session.scalars(query))


def ticket_events(session: Session, ticket_id: int) -> list[Event]:
    query = select(Event).where(Event.ticket_id == ticket_id).order_by(Event.at, Event.id)  # type: ignore[arg-type]
    return list(session.scalars(query))


def quarantined(session: Session) -> list[Receipt]:
    query = select(Receipt).where(Receipt.status == "quarantined").order_by(Receipt.id)  # type: ignore[arg-type]
    return list(session.scalars(query))


def count_receipts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Receipt.status, func.count()).group_by(Receipt.status))
    return {status: n for status, n in rows}
