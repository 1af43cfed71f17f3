"""The one module that writes ticket threads: tickets, their messages, events and participants.

A write goes to the database at once, or, when the caller passes a `ThreadBuffer`, waits there
until the caller flushes it: ingest stores a whole batch's events and participants with one
INSERT per table. The caller flushes before it reads participants back (threading by [#N] or
References needs them), so a reply later in the same batch sees the ticket's people.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from tickets.attachments import StoredAttachment, store_attachments
from tickets.inserts import insert_ignore, insert_ignore_rows, insert_row, insert_rows
from tickets.models import Event, Message, Participant, Ticket
from tickets.values import IncomingMessage


@dataclass(slots=True)
class ThreadBuffer:
    """Events and participants waiting to be inserted, one statement per table."""

    events: list[dict[str, Any]] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)

    def flush(self, session: Session) -> None:
        """Insert what waits (participants once per ticket and address) and empty the buffer."""
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


def insert_ticket(session: Session, values: dict[str, Any]) -> int:
    """A new ticket row; its id."""
    return insert_row(session, Ticket, values)


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
    return insert_row(session, Message, {**MESSAGE_DEFAULTS, **values})


def add_messages(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many messages at once (the outgoing mail of a batch, as its tickets' threads show it)."""
    if rows:
        insert_rows(session, Message, [{**MESSAGE_DEFAULTS, **row} for row in rows])


def add_inbound(
    session: Session, receipt_id: int, msg: IncomingMessage, ticket_id: int, arrived_at: datetime, *, kind: str
) -> int:
    """A received message on its ticket, with its attachments (bytes stored once, by SHA-256)."""
    return add_inbound_message(session, receipt_id, msg, ticket_id, arrived_at, kind=kind)[0]


def add_inbound_message(
    session: Session, receipt_id: int, msg: IncomingMessage, ticket_id: int, arrived_at: datetime, *, kind: str
) -> tuple[int, tuple[StoredAttachment, ...]]:
    """`add_inbound`, also giving the attachments as stored (their ids are what agents are told)."""
    message_row = add_message(
        session,
        {
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
        },
    )
    return message_row, store_attachments(session, message_row, msg.attachments)
