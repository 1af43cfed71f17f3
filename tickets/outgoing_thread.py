"""Queued outgoing mail as its ticket's thread shows it."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from tickets.inserts import insert_rows
from tickets.models import Message
from tickets.values import OutgoingEmail


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingRecord:
    """A queued outgoing message as its ticket's thread shows it."""

    intent: OutgoingEmail
    message_id: str
    subject: str
    text: str
    sender: str
    now: datetime


def record_outgoing(session: Session, records: list[OutgoingRecord]) -> None:
    """Show queued outgoing messages in their tickets' threads (same transaction, one statement)."""
    rows = [
        {
            "ticket_id": r.intent.ticket_id,
            "receipt_id": None,
            "direction": "out",
            "kind": r.intent.kind,
            "from_addr": r.sender,
            "from_name": "",
            "to_addrs": ", ".join(r.intent.to),
            "cc_addrs": "",
            "subject": r.subject,
            "message_id": r.message_id,
            "text": r.text,
            "html": "",
            "created_at": r.now,
        }
        for r in records
        if r.intent.ticket_id is not None
    ]
    if rows:
        insert_rows(session, Message, rows)
