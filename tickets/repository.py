"""Queries and inserts. Never commits: the unit of work does."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

from tickets.models import (
    Blob,
    Event,
    FetchAttempt,
    MailboxState,
    Message,
    Outbox,
    Participant,
    Receipt,
    Ticket,
)
from tickets.rules import TicketFacts
from tickets.values import ReceiptKey


def insert_ignore(session: Session, model: type[SQLModel], values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike."""
    dialect = session.get_bind().dialect.name
    table = model.__table__  # type: ignore[attr-defined]
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(maker(table).values(**values).on_conflict_do_nothing())


def put_blob(session: Session, sha256: str, data: bytes) -> None:
    insert_ignore(session, Blob, {"sha256": sha256, "size": len(data), "data": data})


def get_blob(session: Session, sha256: str) -> bytes | None:
    blob = session.get(Blob, sha256)
    return None if blob is None else blob.data


def get_receipt(session: Session, key: ReceiptKey) -> Receipt | None:
    query = select(Receipt).where(
        Receipt.mailbox == key.mailbox, Receipt.uidvalidity == key.uidvalidity, Receipt.uid == key.uid
    )
    return session.scalars(query).first()


def receipt_statuses(session: Session, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, str]:
    """Status of the committed receipts among these UIDs."""
    found: dict[int, str] = {}
    for start in range(0, len(uids), 500):
        chunk = list(uids[start : start + 500])
        query = select(Receipt.uid, Receipt.status).where(
            Receipt.mailbox == mailbox,
            Receipt.uidvalidity == uidvalidity,
            Receipt.uid.in_(chunk),  # type: ignore[attr-defined]
        )
        found.update({uid: status for uid, status in session.execute(query)})
    return found


def high_water_uid(session: Session, mailbox: str, uidvalidity: int) -> int:
    query = select(func.max(Receipt.uid)).where(Receipt.mailbox == mailbox, Receipt.uidvalidity == uidvalidity)
    return int(session.scalar(query) or 0)


def find_same_message(session: Session, message_id: str, raw_sha256: str) -> Receipt | None:
    """A receipt of the very same message (same Message-ID and bytes) under another key."""
    query = (
        select(Receipt).where(Receipt.message_id == message_id, Receipt.raw_sha256 == raw_sha256).order_by(Receipt.id)
    )  # type: ignore[arg-type]
    return session.scalars(query).first()


def message_id_seen(session: Session, message_id: str) -> bool:
    return session.scalar(select(Receipt.id).where(Receipt.message_id == message_id).limit(1)) is not None


def get_mailbox_state(session: Session, name: str) -> MailboxState | None:
    return session.get(MailboxState, name)


def save_mailbox_state(session: Session, name: str, uidvalidity: int) -> None:
    state = session.get(MailboxState, name) or MailboxState(name=name)
    state.uidvalidity = uidvalidity
    session.add(state)


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


def add_participant(session: Session, ticket_id: int, email: str, role: str) -> None:
    if email:
        insert_ignore(session, Participant, {"ticket_id": ticket_id, "email": email, "role": role})


def add_event(session: Session, ticket_id: int, at: datetime, kind: str, actor: str = "", detail: str = "") -> None:
    session.add(Event(ticket_id=ticket_id, at=at, kind=kind, actor=actor, detail=detail))


def count_outbox_since(session: Session, *, kind: str, recipient: str, since: datetime) -> int:
    query = (
        select(func.count())
        .select_from(Outbox)
        .where(Outbox.kind == kind, Outbox.recipients == recipient, Outbox.created_at >= since)
    )
    return int(session.scalar(query) or 0)


def outbox_key_exists(session: Session, key: str) -> bool:
    return session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)) is not None


def bump_attempts(session: Session, key: ReceiptKey, error: str = "") -> int:
    """Count one more processing attempt of an uncommitted message; return the new count."""
    row = session.get(FetchAttempt, (key.mailbox, key.uidvalidity, key.uid))
    if row is None:
        row = FetchAttempt(mailbox=key.mailbox, uidvalidity=key.uidvalidity, uid=key.uid)
    row.attempts += 1
    if error:
        row.last_error = error[:2000]
    session.add(row)
    session.flush()
    return row.attempts


def attempts_of(session: Session, key: ReceiptKey) -> int:
    row = session.get(FetchAttempt, (key.mailbox, key.uidvalidity, key.uid))
    return 0 if row is None else row.attempts


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


def take_lease(session: Session, name: str, owner: str, now: datetime, until: datetime) -> bool:
    """Hold (or renew) the poller lease of a mailbox; False while another live owner holds it."""
    insert_ignore(session, MailboxState, {"name": name, "uidvalidity": 0, "high_water_uid": 0, "lease_owner": ""})
    state = session.scalars(select(MailboxState).where(MailboxState.name == name).with_for_update()).one()
    if state.lease_owner not in ("", owner) and state.lease_until is not None and state.lease_until > now:
        return False
    state.lease_owner = owner
    state.lease_until = until
    session.add(state)
    return True


def release_lease(session: Session, name: str, owner: str) -> None:
    state = session.get(MailboxState, name)
    if state is not None and state.lease_owner == owner:
        state.lease_owner = ""
        state.lease_until = None
        session.add(state)
