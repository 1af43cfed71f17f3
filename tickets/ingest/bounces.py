"""Mail about our own mail: delivery reports (DSN) and replies to our VERP envelope addresses.

A bounce names the outbox row it reports on by the signed VERP address it came back to, or,
when it did not come back there (a relay that rewrote the envelope sender, an MTA that answered
the header From), by the Message-ID of ours it quotes (its message/rfc822 or text/rfc822-headers
part, or an old MTA's copy of the headers in its text). Either way it is recorded the same.
"""

from datetime import datetime

from sqlmodel import Session

from tickets import repository as repo
from tickets import threads
from tickets.models import Outbox, Ticket
from tickets.values import IncomingMessage, IngestAction, IngestResult


def _reported_row(session: Session, msg: IncomingMessage, bounce_of: int | None) -> tuple[Outbox | None, str]:
    """(the outbox row the bounce reports on, how it was known) or (None, "")."""
    row = session.get(Outbox, bounce_of) if bounce_of is not None else None
    if row is not None:
        return row, f"outbox {row.id}"
    row = repo.outbox_by_message_ids(session, msg.bounce_message_ids)
    return (row, f"outbox {row.id}, by the quoted {row.message_id}") if row is not None else (None, "")


def attach_bounce(session: Session, msg: IncomingMessage, now: datetime, bounce_of: int | None) -> IngestResult:
    """A bounce of our own mail is attached to its ticket; it never gets an answer."""
    row, known_by = _reported_row(session, msg, bounce_of)
    ticket_ids = [row.ticket_id] if row is not None and row.ticket_id else []
    ticket_ids = ticket_ids or repo.tickets_by_message_ids(session, [*msg.references, *msg.in_reply_to])
    status = msg.bounce_status or "unknown"  # a report we cannot read marks nobody undeliverable
    if row is not None and status == "failed":
        row.status, row.last_reply = "bounced", f"DSN: {', '.join(msg.bounce_recipients) or 'failed'}"[:2000]
        session.add(row)
    if not ticket_ids:
        return IngestResult(action=IngestAction.IGNORED, reason=f"bounce ({status}) of no known ticket")
    ticket = session.get(Ticket, ticket_ids[0])
    assert ticket is not None and ticket.id is not None
    failed = set(msg.bounce_recipients) or set((row.recipients if row else "").split(","))
    if status == "failed" and ticket.requester_email in failed:
        ticket.requester_undeliverable = True
        session.add(ticket)
    detail = f"{status}: {', '.join(sorted(failed))}" + (f" ({known_by})" if known_by else "")
    threads.add_event(session, ticket.id, now, "bounce", detail=detail[:2000])
    return IngestResult(action=IngestAction.ATTACHED, ticket_id=ticket.id, reason=f"bounce {status}")


def attach_envelope_reply(session: Session, msg: IncomingMessage, outbox_id: int) -> IngestResult:
    """Mail to one of our VERP addresses that is not a DSN (an auto-responder answering the
    Return-Path, RFC 3834 3.1.1): attached to the ticket of that outbox row, changing nothing."""
    row = session.get(Outbox, outbox_id)
    if row is None or row.ticket_id is None:
        return IngestResult(action=IngestAction.IGNORED, reason="mail to a bounce address of no known ticket")
    return IngestResult(
        action=IngestAction.ATTACHED, ticket_id=row.ticket_id, reason=f"reply to the envelope of outbox {outbox_id}"
    )
