"""The collision guard: a second agent's reply that crossed another agent's is held, not sent.

When an agent's emailed reply arrives within `[agents] collision_minutes` of another agent's
reply that reached the user after the mail of ours it answers (so the agent had not seen it),
the reply is kept on the ticket as `held` (an event, nothing to the user) and the agent gets
the other reply with a one-line instruction: to send theirs anyway, reply with `#send` on the
first line — the text of that new mail is what goes to the user.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from tickets import repository as repo
from tickets import threads
from tickets.agents.commands import HELP
from tickets.agents.mail import AgentPolicy, command_error, to_agent
from tickets.agents.routing import AgentReply, colliding_reply
from tickets.mail_context import MessageView, ReplyHeldContext, ReplyView, requester_of, ticket_view
from tickets.models import Message, Ticket
from tickets.values import OutgoingEmail


def _addresses(field: str) -> set[str]:
    return {a.strip().lower() for a in field.split(",") if a.strip()}


def seen_at(messages: Sequence[Message], agent: str, thread: Sequence[str]) -> datetime | None:
    """When the mail of ours the agent answers was written: the newest to them among `thread`,
    else (a client that dropped the thread headers) the newest to them; None if none."""
    mine = [m for m in messages if m.direction == "out" and agent in _addresses(m.to_addrs)]
    answered = [m for m in mine if m.message_id and m.message_id in thread] or mine
    return max((m.created_at for m in answered), default=None)


def colliding(
    messages: Sequence[Message], *, agent: str, at: datetime, thread: Sequence[str], policy: AgentPolicy
) -> AgentReply | None:
    """The other agent's reply that this one (arriving `at`) crosses, if any."""
    replies = [
        AgentReply(agent=m.from_addr, at=m.created_at, text=m.text)
        for m in messages
        if m.direction == "in" and m.kind == "agent"
    ]
    return colliding_reply(
        agent=agent,
        at=at,
        seen_at=seen_at(messages, agent, thread),
        replies=replies,
        minutes=policy.routing.collision_minutes,
    )


def answers_held_notice(messages: Sequence[Message], agent: str, thread: Sequence[str]) -> bool:
    """Whether the mail answers our notice that one of the agent's replies was held."""
    return any(
        m.direction == "out" and m.kind == "reply_held" and m.message_id in thread and agent in _addresses(m.to_addrs)
        for m in messages
    )


def guard(
    session: Session,
    ticket: Ticket,
    agent: str,
    text: str,
    *,
    thread: Sequence[str],
    message_id: str,
    when: datetime,
    now: datetime,
    key: str,
    policy: AgentPolicy,
) -> OutgoingEmail | None:
    """The mail that stops an emailed reply (a held notice, or a reminder of #send), or None: send it."""
    assert ticket.id is not None
    if policy.routing.collision_minutes <= 0:
        return None
    messages = repo.ticket_messages(session, ticket.id)
    if answers_held_notice(messages, agent, thread):  # an answer to the notice goes out only with #send
        error = "this answers a held reply: put #send on the first line to send your text to the user"
        threads.add_event(session, ticket.id, now, "command-rejected", actor=agent, detail=error)
        values = {"direction": "in", "kind": "rejected", "from_addr": agent, "message_id": message_id[:1000]}
        threads.add_message(session, {"ticket_id": ticket.id, **values, "text": text, "created_at": when})
        first = text.strip().split("\n", 1)[0]
        return command_error(ticket, to=agent, command=first, error=error, key=key, policy=policy)
    crossed = colliding(messages, agent=agent, at=when, thread=thread, policy=policy)
    if crossed is None:
        return None
    return hold(
        session, ticket, agent, text, crossed, message_id=message_id, when=when, now=now, key=key, policy=policy
    )


def hold(
    session: Session,
    ticket: Ticket,
    agent: str,
    text: str,
    first: AgentReply,
    *,
    message_id: str,
    when: datetime,
    now: datetime,
    key: str,
    policy: AgentPolicy,
) -> OutgoingEmail:
    """Keep the reply on the ticket, sent to nobody; tell the agent what reached the user instead."""
    assert ticket.id is not None
    values = {"direction": "in", "kind": "held", "from_addr": agent, "message_id": message_id[:1000], "text": text}
    threads.add_message(session, {"ticket_id": ticket.id, **values, "created_at": when})
    detail = f"{first.agent} answered at {first.at:%Y-%m-%d %H:%M} UTC, after the mail {agent} answered"
    threads.add_event(session, ticket.id, now, "reply-held", actor=agent, detail=detail)
    context = ReplyHeldContext(
        ticket=ticket_view(ticket),
        requester=requester_of(ticket),
        first=MessageView(sender=first.agent, name=policy.names.get(first.agent, ""), text=first.text),
        first_at=first.at.astimezone(policy.sla.zone),
        held=ReplyView(text=text),
        commands=HELP,
    )
    return to_agent(
        ticket, kind="reply_held", to=agent, key_prefix="reply-held", key=key, policy=policy, context=context
    )
