"""An agent's answer relayed to the user, or kept as an internal note; both stored on the ticket."""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from tickets import threads
from tickets.agents import mail
from tickets.agents.commands import ParsedReply
from tickets.agents.mail import AgentPolicy
from tickets.attachments import store_attachments
from tickets.mail_context import MessageView
from tickets.models import Ticket
from tickets.values import Attachment, OutgoingEmail


def store_message(
    session: Session,
    ticket_id: int,
    *,
    kind: str,
    sender: str,
    text: str,
    message_id: str,
    at: datetime,
    attachments: tuple[Attachment, ...] = (),
) -> int:
    values = {"direction": "in", "kind": kind, "from_addr": sender, "message_id": message_id[:1000], "text": text}
    row = threads.add_message(session, {"ticket_id": ticket_id, **values, "created_at": at})
    store_attachments(session, row, attachments)
    return row


@dataclass(frozen=True, slots=True, kw_only=True)
class Sent:
    """What an agent's reply relays: its text, who wrote it, and the files they attached."""

    body: str
    agent: str
    name: str
    key: str
    message_id: str
    files: tuple[Attachment, ...] = ()


def relay(
    session: Session, ticket: Ticket, sent: Sent, when: datetime, now: datetime, policy: AgentPolicy
) -> OutgoingEmail:
    """Send the answer (and its files) to the user, record it, and stop this cycle's response clock."""
    assert ticket.id is not None
    agent = sent.agent
    intent = mail.agent_reply(
        session, ticket, text=sent.body, agent_name=sent.name, key=mail.digest(sent.key), policy=policy,
        attachments=sent.files,
    )
    store_message(
        session, ticket.id, kind="agent", sender=agent, text=sent.body, message_id=sent.message_id, at=when,
        attachments=sent.files,
    )
    threads.add_event(session, ticket.id, now, "agent-reply", actor=agent, detail=", ".join(intent.to))
    if ticket.first_answered_at is None or ticket.first_answered_at < ticket.cycle_started_at:
        hours = (when - ticket.cycle_started_at).total_seconds() / 3600
        ticket.first_answered_at = when
        detail = f"cycle {ticket.cycle}: {hours:.2f} h"
        threads.add_event(session, ticket.id, now, "answered", actor=agent, detail=detail)
    if not ticket.assigned_agent:
        threads.add_event(session, ticket.id, now, "assigned", actor=agent, detail=f"- -> {agent} (first reply)")
        ticket.assigned_agent = agent
    return intent


def note(
    session: Session,
    ticket: Ticket,
    parsed: ParsedReply,
    agent: str,
    key: str,
    message_id: str,
    when: datetime,
    now: datetime,
    policy: AgentPolicy,
    attachments: tuple[Attachment, ...] = (),
) -> list[OutgoingEmail]:
    """An internal note (its files kept on it): stored, other agents told, the user gets nothing."""
    assert ticket.id is not None
    command = parsed.named("note")
    text = "\n".join(part for part in ((command.argument if command else ""), parsed.body) if part).strip()
    store_message(
        session, ticket.id, kind="note", sender=agent, text=text, message_id=message_id, at=when,
        attachments=attachments,
    )
    threads.add_event(session, ticket.id, now, "note", actor=agent)
    message = MessageView(sender=agent, name="", text=text)
    return [
        mail.notification(ticket, to=other, event="note", message=message, key=f"note:{key}", now=now, policy=policy)
        for other in policy.agents
        if other != agent
    ]
