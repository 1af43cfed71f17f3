"""Resolved tickets close by themselves after a quiet period, with a last message to the user."""

from datetime import datetime, timedelta

from sqlmodel import Session, select

from tickets import threads
from tickets.mail_context import TicketClosedContext, requester_of, ticket_view
from tickets.models import Message, Ticket
from tickets.values import OutgoingEmail

BATCH = 500


def close_quiet_resolved(session: Session, *, now: datetime, quiet: timedelta) -> tuple[OutgoingEmail, ...]:
    """Close tickets resolved and untouched for `quiet`; one closing notice each (idempotent key)."""
    query = (
        select(Ticket)
        .where(Ticket.status == "resolved", Ticket.updated_at <= now - quiet)  # type: ignore[arg-type]
        .order_by(Ticket.id)  # type: ignore[arg-type]
        .limit(BATCH)
    )
    intents = []
    days = round(quiet.total_seconds() / 86400)
    for ticket in session.scalars(query):
        assert ticket.id is not None
        ticket.status, ticket.updated_at = "closed", now
        session.add(ticket)
        threads.add_event(
            session, ticket.id, now, "closed", actor="scheduler", detail=f"resolved and quiet for {days} days"
        )
        if ticket.requester_undeliverable:
            continue
        intents.append(_notice(session, ticket, days))
    return tuple(intents)


def _notice(session: Session, ticket: Ticket, days: int) -> OutgoingEmail:
    assert ticket.id is not None
    thread = session.scalars(
        select(Message.message_id)
        .where(Message.ticket_id == ticket.id, Message.direction == "in", Message.kind == "user")
        .order_by(Message.created_at)  # type: ignore[arg-type]
    ).all()
    return OutgoingEmail(
        kind="ticket_closed",
        ticket_id=ticket.id,
        to=(ticket.requester_email,),
        idempotency_key=f"closed:{ticket.id}:{ticket.cycle}",
        language=ticket.language,
        auto_submitted="auto-generated",
        in_reply_to=thread[-1] if thread else "",
        references=tuple(thread[-10:]),
        context=TicketClosedContext(ticket=ticket_view(ticket), requester=requester_of(ticket), quiet_days=days),
    )
