"""`#assign <group>`: the ticket goes to a group; its members hear of it until one of them answers."""

from datetime import datetime

from sqlmodel import Session

from tickets import threads
from tickets.agents import mail
from tickets.agents.mail import AgentPolicy
from tickets.mail_context import MessageView
from tickets.models import Ticket
from tickets.values import OutgoingEmail


def assign_group(
    session: Session, ticket: Ticket, name: str, *, actor: str, now: datetime, policy: AgentPolicy, key: str
) -> list[OutgoingEmail]:
    """Give the ticket to group `name` (no agent until one answers); its other members are told."""
    assert ticket.id is not None
    group = policy.routing.group_named(name)
    if group is None or (ticket.assigned_group == name and not ticket.assigned_agent):
        return []
    before = ticket.assigned_agent or (f"group {ticket.assigned_group}" if ticket.assigned_group else "-")
    threads.add_event(session, ticket.id, now, "assigned", actor=actor, detail=f"{before} -> group {name}")
    ticket.assigned_agent, ticket.assigned_group = "", name
    text = f"{actor} assigned ticket #{ticket.id} to the group {name}; the first of you to answer takes it."
    message = MessageView(sender=actor, name="", text=text)
    return [
        mail.notification(
            ticket, to=member, event="assigned", message=message, key=f"assign:{key}", now=now, policy=policy
        )
        for member in group.members
        if member != actor
    ]
