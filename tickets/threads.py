"""The one module that writes ticket threads: tickets, their messages, events and participants.

A write goes to the database at once, or, when the caller passes a `ThreadBuffer`, waits there
until the caller flushes it: ingest stores a whole batch's events and participants with one
INSERT per table. The caller flushes before it reads participants back (threading by [#N] or
References needs them), so a reply later in the same batch sees the ticket's people.
"""

import functools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from tickets import search
from tickets.attachments import StoredAttachment, store_attachments
from tickets.inserts import insert_ignore, insert_ignore_rows, insert_row, insert_rows
from tickets.models import Event, Message, Participant, SearchText, Ticket
from tickets.values import IncomingMessage

# Messages whose words are searched (`tickets list --search`): what people wrote, never our robots'.
SEARCHED_KINDS = frozenset({"user", "agent", "note", "phone"})


@dataclass(slots=True)
class ThreadBuffer:
    """Events and participants waiting to be inserted, one statement per table."""

    events: list[dict[str, Any]] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # inbound ones without attachments
    subjects: list[tuple[int, list[str]]] = field(default_factory=list)  # new tickets' subjects, to index

    def flush(self, session: Session) -> None:
        """Insert what waits (participants once per ticket and address) and empty the buffer."""
        add_messages(session, self.messages, also_index=self.subjects)
        self.messages, self.subjects = [], []
        if self.participants:
            insert_ignore_rows(session, Participant, self.participants, Participant.__table__.c.id)  # type: ignore[attr-defined]
        if self.events:
            insert_rows(session, Event, self.events)
        self.events, self.participants = [], []


def add_event(
    session: Session,
    ticket_id: int,
    at: datetime,
    kind: str,
    actor: str = "",
    detail: str = "",
    *,
    buffer: ThreadBuffer | None = None,
) -> None:
    """One line of the ticket's history."""
    values = {"ticket_id": ticket_id, "at": at, "kind": kind, "actor": actor, "detail": detail}
    if buffer is not None:
        buffer.events.append(values)
    else:
        insert_row(session, Event, values)


def add_participant(
    session: Session, ticket_id: int, email: str, role: str, *, buffer: ThreadBuffer | None = None
) -> None:
    """Someone who belongs to the ticket (once per address)."""
    if not email:
        return
    values = {"ticket_id": ticket_id, "email": email, "role": role}
    if buffer is not None:
        buffer.participants.append(values)
    else:
        insert_ignore(session, Participant, values)


def insert_ticket(session: Session, values: dict[str, Any], *, buffer: ThreadBuffer | None = None) -> int:
    """A new ticket row (its subject searchable, with the buffer's rows when one is given); its id."""
    ticket_id = insert_row(session, Ticket, values)
    subject = (ticket_id, [values.get("subject", "")])
    if buffer is not None:
        buffer.subjects.append(subject)
    else:
        _index(session, [subject])
    return ticket_id


def search_row(message: dict[str, Any]) -> tuple[int, list[str]] | None:
    """What of a message `search_text` keeps: its ticket and texts, or None when not searched."""
    if message.get("kind") not in SEARCHED_KINDS:
        return None
    return message["ticket_id"], [message.get("subject", ""), message.get("text", "")]


def _index(session: Session, texts: list[tuple[int, list[str]]]) -> None:
    """Add the stems of these texts to their tickets' `search_text` row (one statement), so
    `tickets list --search` finds them."""
    merged: dict[int, list[str]] = {}
    for ticket_id, parts in texts:
        merged.setdefault(ticket_id, []).extend(parts)
    # In ticket order: two workers appending to the same tickets lock their rows in the same order.
    rows = [{"ticket_id": ticket_id, "terms": search.terms(parts)} for ticket_id, parts in sorted(merged.items())]
    rows = [row for row in rows if row["terms"]]
    if rows:
        if session.new or session.dirty:
            session.flush()
        session.connection().execute(_append_terms(session.get_bind().dialect.name), rows)


@functools.cache
def _append_terms(dialect: str) -> Any:
    """INSERT the ticket's row, or append to its terms (repeats are harmless: matching is by set)."""
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = maker(SearchText.__table__)  # type: ignore[attr-defined]
    joined = statement.table.c.terms + " " + statement.excluded.terms
    return statement.on_conflict_do_update(index_elements=["ticket_id"], set_={"terms": joined})


MESSAGE_DEFAULTS: dict[str, Any] = {
    "receipt_id": None,
    "from_addr": "",
    "from_name": "",
    "to_addrs": "",
    "cc_addrs": "",
    "subject": "",
    "message_id": "",
    "text": "",
    "html": "",
}


def add_message(session: Session, values: dict[str, Any]) -> int:
    """One message on a ticket (inbound, or an agent's written reply); its id."""
    message_id = insert_row(session, Message, {**MESSAGE_DEFAULTS, **values})
    _index(session, [row for row in [search_row(values)] if row])
    return message_id


def add_messages(
    session: Session, rows: list[dict[str, Any]], *, also_index: list[tuple[int, list[str]]] | None = None
) -> None:
    """Many messages at once (the outgoing mail of a batch, as its tickets' threads show it);
    their words indexed in one statement with `also_index`'s."""
    if rows:
        insert_rows(session, Message, [{**MESSAGE_DEFAULTS, **row} for row in rows])
    _index(session, [*(also_index or ()), *(found for found in map(search_row, rows) if found)])


def add_inbound(
    session: Session,
    receipt_id: int,
    msg: IncomingMessage,
    ticket_id: int,
    arrived_at: datetime,
    *,
    kind: str,
    buffer: ThreadBuffer | None = None,
) -> tuple[StoredAttachment, ...]:
    """A received message on its ticket, with its attachments (bytes stored once, by SHA-256;
    given back as stored: their ids are what agents are told). One without attachments waits in
    `buffer`, when given (its row id is needed by none)."""
    values = _inbound_row(receipt_id, msg, ticket_id, arrived_at, kind)
    if buffer is not None and not msg.attachments:
        buffer.messages.append(values)
        return ()
    return store_attachments(session, add_message(session, values), msg.attachments)


def _inbound_row(
    receipt_id: int, msg: IncomingMessage, ticket_id: int, arrived_at: datetime, kind: str
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "receipt_id": receipt_id,
        "direction": "in",
        "kind": kind,
        "from_addr": msg.sender.email,
        "from_name": msg.sender.name[:500],
        "to_addrs": ", ".join(a.email for a in msg.to if a.email),
        "cc_addrs": ", ".join(a.email for a in msg.cc if a.email),
        "subject": msg.subject,
        "message_id": msg.message_id[:1000],
        "text": msg.text,
        "html": msg.html,
        "created_at": arrived_at,
    }
