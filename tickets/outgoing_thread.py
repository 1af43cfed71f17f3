"""Queued outgoing mail as its ticket's thread shows it."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from tickets.inserts import insert_rows
from tickets.models import Message
from tickets.values import OutgoingEmail

# What our robots send (Auto-Submitted); agent replies and phone follow-ups are written by people.
AUTOMATIC_KINDS = ("ack", "agent_notification", "command_error", "sla_alert", "ticket_closed", "missed_call")
MAX_LOOKUP = 50


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


def automatic_kind_among(session: Session, message_ids: Sequence[str]) -> str:
    """The kind of the first of our automatic messages (an ack, a notification...) named by these
    Message-IDs, or "": a message whose In-Reply-To or References name one answers a robot."""
    ids = [m for m in dict.fromkeys(message_ids) if m][-MAX_LOOKUP:]
    if not ids:
        return ""
    query = (
        select(Message.kind)
        .where(col(Message.message_id).in_(ids), Message.direction == "out", col(Message.kind).in_(AUTOMATIC_KINDS))
        .limit(1)
    )
    return session.exec(query).first() or ""
