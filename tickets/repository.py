"""Queries and inserts. Never commits: the unit of work does."""

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert
from sqlmodel import Session, select

from tickets.inserts import defer, flush_deferred, insert_ignore, insert_row
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


def put_blob(session: Session, sha256: str, data: bytes) -> None:
    insert_ignore(session, Blob, {"sha256": sha256, "size": len(data), "data": data})


def get_blob(session: Session, sha256: str) -> bytes | None:
    blob = session.get(Blob, sha256)
    return None if blob is None else blob.data


def receipt_by_key(session: Session, key: ReceiptKey) -> tuple[int, str, int | None] | None:
    """(id, status, ticket_id) of the receipt with this key, if committed."""
    query = select(Receipt.id, Receipt.status, Receipt.ticket_id).where(
        Receipt.mailbox == key.mailbox, Receipt.uidvalidity == key.uidvalidity, Receipt.uid == key.uid
    )
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1], row[2])


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


def find_same_message(session: Session, message_id: str, raw_sha256: str) -> tuple[int, int | None] | None:
    """(id, ticket_id) of a receipt of the very same message (same Message-ID and bytes) under another key."""
    row = session.connection().execute(_same_message(), {"mid": message_id, "sha": raw_sha256}).first()
    return None if row is None else (row[0], row[1])


@functools.cache
def _same_message() -> Any:
    """Built once: ingest asks this for every message."""
    c = Receipt.__table__.c  # type: ignore[attr-defined]
    return (
        select(c.id, c.ticket_id)
        .where(c.message_id == bindparam("mid"), c.raw_sha256 == bindparam("sha"))
        .order_by(c.id)
        .limit(1)
    )


def get_mailbox_state(session: Session, name: str) -> MailboxState | None:
    return session.get(MailboxState, name)


def save_mailbox_state(session: Session, name: str, uidvalidity: int) -> None:
    state = session.get(MailboxState, name) or MailboxState(name=name)
    state.uidvalidity = uidvalidity
    session.add(state)


def participants(session: Session, ticket_ids: Iterable[int]) -> dict[int, set[str]]:
    flush_deferred(session)
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
        values = {"ticket_id": ticket_id, "email": email, "role": role}
        if not defer(session, Participant, values, ignore_conflicts=True):
            insert_ignore(session, Participant, values)


def add_event(session: Session, ticket_id: int, at: datetime, kind: str, actor: str = "", detail: str = "") -> None:
    values = {"ticket_id": ticket_id, "at": at, "kind": kind, "actor": actor, "detail": detail}
    if not defer(session, Event, values):
        insert_row(session, Event, values)


def count_outbox_since(session: Session, *, kind: str, recipient: str, since: datetime) -> int:
    params = {"kind": kind, "rcpt": recipient, "since": since}
    return int(session.connection().execute(_outbox_count(), params).scalar() or 0)


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


def attempts_of(session: Session, keys: Sequence[ReceiptKey]) -> dict[int, int]:
    """Processing attempts so far of these uncommitted messages (one mailbox), per UID."""
    if not keys:
        return {}
    first = keys[0]
    query = select(FetchAttempt.uid, FetchAttempt.attempts).where(
        FetchAttempt.mailbox == first.mailbox,
        FetchAttempt.uidvalidity == first.uidvalidity,
        FetchAttempt.uid.in_([k.uid for k in keys]),  # type: ignore[attr-defined]
    )
    found = {uid: n for uid, n in session.execute(query)}
    return {k.uid: found.get(k.uid, 0) for k in keys}


def bump_attempts(session: Session, keys: Sequence[ReceiptKey]) -> dict[int, int]:
    """Count one more processing attempt of these messages; return the new counts per UID."""
    counts = attempts_of(session, keys)
    table = FetchAttempt.__table__  # type: ignore[attr-defined]
    fresh = [
        {"mailbox": k.mailbox, "uidvalidity": k.uidvalidity, "uid": k.uid, "attempts": 1, "last_error": ""}
        for k in keys
        if counts[k.uid] == 0
    ]
    if fresh:
        session.execute(insert(table), fresh)
    for key in keys:
        if counts[key.uid]:
            session.execute(
                table.update()
                .where(table.c.mailbox == key.mailbox, table.c.uidvalidity == key.uidvalidity, table.c.uid == key.uid)
                .values(attempts=table.c.attempts + 1)
            )
    return {uid: n + 1 for uid, n in counts.items()}


def clear_attempts(session: Session, keys: Sequence[ReceiptKey]) -> None:
    """Forget the attempts of messages that are now committed."""
    if not keys:
        return
    table = FetchAttempt.__table__  # type: ignore[attr-defined]
    first = keys[0]
    session.execute(
        table.delete().where(
            table.c.mailbox == first.mailbox,
            table.c.uidvalidity == first.uidvalidity,
            table.c.uid.in_([k.uid for k in keys]),
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


def take_lease(
    session: Session,
    name: str,
    owner: str,
    now: datetime,
    until: datetime,
    is_dead: Callable[[str], bool] = lambda _owner: False,
) -> bool:
    """Hold (or renew) the poller lease of a mailbox; False while another live owner holds it.

    `is_dead(owner)` lets the caller vouch that an owner is gone (a dead process on this host),
    so a restart after a crash does not wait for the lease to expire.
    """
    insert_ignore(session, MailboxState, {"name": name, "uidvalidity": 0, "high_water_uid": 0, "lease_owner": ""})
    state = session.scalars(select(MailboxState).where(MailboxState.name == name).with_for_update()).one()
    held = state.lease_owner not in ("", owner) and state.lease_until is not None and state.lease_until > now
    if held and not is_dead(state.lease_owner):
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
