"""The topic a person chose in the web form, for a ticket the keyword rules left as `general`."""

from datetime import datetime

from sqlmodel import Session

from tickets import threads
from tickets.ingest.categories import GENERAL
from tickets.models import Ticket


def apply_chosen_category(session: Session, ticket_id: int, chosen: str, now: datetime) -> bool:
    """Set the chosen category when the rules found none (they win otherwise: a person picking
    a topic is a hint, and the priority stays the rules'); True when the ticket changed."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not chosen or ticket.category != GENERAL or chosen == GENERAL:
        return False
    threads.add_event(session, ticket_id, now, "category", actor="web-form", detail=f"{GENERAL} -> {chosen}")
    ticket.category = chosen
    session.add(ticket)
    return True
