"""What an authenticated agent's text does to a ticket, and the same actions from the CLI.

`act` applies commands on top of an agent's reply, then relays the rest to the user, keeps
it as an internal note, or does nothing more. The CLI functions (`reply`, `note`, ...) take
(session, ticket_id, agent, text, now, policy) and go through the very same code.
"""

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from tickets import threads
from tickets.agents import collisions, group_assign, macros, mail, relay
from tickets.agents.commands import ParsedReply, parse_commands
from tickets.agents.mail import AgentPolicy
from tickets.agents.relay import store_message
from tickets.agents.routing import told_on_escalation
from tickets.ingest import rules
from tickets.mail_context import MessageView
from tickets.models import Ticket
from tickets.sla.policy import retarget_cycle, start_cycle
from tickets.values import Attachment, OutgoingEmail

logger = logging.getLogger(__name__)


class AgentActionError(ValueError):
    """An agent's action cannot be applied (unknown ticket, not an agent, bad command)."""


def act(
    session: Session,
    ticket: Ticket,
    *,
    agent: str,
    text: str,
    key: str,
    message_id: str = "",
    when: datetime,
    now: datetime,
    policy: AgentPolicy,
    agent_name: str = "",
    html_only: bool = False,
    thread: Sequence[str] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> tuple[OutgoingEmail, ...]:
    """Apply an authenticated agent's text: commands on top, then relay (with the files the agent
    attached), note (the files kept on it), or nothing.

    Commands are read only from a plain-text part: with `html_only`, command lines refuse the
    whole message instead of being applied or relayed. `thread`: the Message-IDs an emailed
    reply answers (its In-Reply-To and References), for the collision guard; None (the CLI) =
    no guard.
    """
    assert ticket.id is not None
    parsed, errors = _read(ticket, text, policy)
    if html_only and (parsed.commands or parsed.errors):
        errors = ["commands are only read from the plain-text part of a reply", *errors]
    if errors:
        threads.add_event(session, ticket.id, now, "command-rejected", actor=agent, detail="; ".join(errors)[:2000])
        store_message(session, ticket.id, kind="rejected", sender=agent, text=text, message_id=message_id, at=when)
        first = text.strip().split("\n", 1)[0]
        return (mail.command_error(ticket, to=agent, command=first, error="; ".join(errors), key=key, policy=policy),)
    if thread is not None and not parsed.is_note and parsed.body.strip() and parsed.named("send") is None:
        stop = collisions.guard(
            session, ticket, agent, text, thread=thread, message_id=message_id, when=when, now=now, key=key,
            policy=policy,
        )
        if stop is not None:
            return (stop,)
    outgoing = list(_apply_fields(session, ticket, parsed, agent, key, now, policy))
    status = parsed.status
    if parsed.is_note:
        outgoing += relay.note(session, ticket, parsed, agent, key, message_id, when, now, policy, attachments)
    elif parsed.body.strip():
        name = agent_name or policy.names.get(agent, "")
        sent = relay.Sent(body=parsed.body, agent=agent, name=name, key=key, message_id=message_id, files=attachments)
        outgoing.append(relay.relay(session, ticket, sent, when, now, policy))
        status = status or "pending"
    elif not parsed.commands:
        threads.add_event(session, ticket.id, now, "agent-empty", actor=agent, detail="nothing above the quoted text")
    if status:
        outgoing += set_status(session, ticket, status, actor=agent, now=now, policy=policy, reason=_reason(parsed))
    ticket.updated_at = now
    session.add(ticket)
    return tuple(outgoing)


def _reason(parsed: ParsedReply) -> str:
    command = parsed.named("escalate")
    return command.argument if command else ""


def _read(ticket: Ticket, text: str, policy: AgentPolicy) -> tuple[ParsedReply, list[str]]:
    """The commands and the message (with a `#macro`'s text on top), and what is wrong with them."""
    parsed = parse_commands(text)
    errors = [*parsed.errors, *_semantic_errors(parsed, policy)]
    macro = parsed.named("macro")
    if macro and not errors:
        body, error = macros.expand(policy.macros, macro.argument, ticket, parsed.body)
        errors += [error] if error else []
        parsed = replace(parsed, body=body)
    return parsed, errors


def _semantic_errors(parsed: ParsedReply, policy: AgentPolicy) -> list[str]:
    errors = []
    assign = parsed.named("assign")
    if assign and "@" in assign.argument and not policy.is_agent(assign.argument):
        errors.append(f"#assign: {assign.argument} is not an agent")
    elif assign and "@" not in assign.argument and policy.routing.group_named(assign.argument) is None:
        groups = ", ".join(g.name for g in policy.routing.groups) or "none"
        errors.append(f"#assign: no group {assign.argument} (groups: {groups})")
    category = parsed.named("category")
    if category and policy.categories and category.argument not in policy.categories:
        errors.append(f"#category: unknown category {category.argument} (known: {', '.join(policy.categories)})")
    return errors


def _apply_fields(
    session: Session, ticket: Ticket, parsed: ParsedReply, agent: str, key: str, now: datetime, policy: AgentPolicy
) -> list[OutgoingEmail]:
    assert ticket.id is not None
    outgoing: list[OutgoingEmail] = []
    for name in ("priority", "category"):
        command = parsed.named(name)
        if command and getattr(ticket, name) != command.argument:
            threads.add_event(
                session, ticket.id, now, name, actor=agent, detail=f"{getattr(ticket, name)} -> {command.argument}"
            )
            setattr(ticket, name, command.argument)
            if name == "priority":  # the user has waited since the cycle began: count from there
                retarget_cycle(ticket, policy.sla)
    assign = parsed.named("assign")
    if assign and "@" not in assign.argument:
        outgoing += group_assign.assign_group(
            session, ticket, assign.argument, actor=agent, now=now, policy=policy, key=key
        )
    elif assign:
        outgoing += assign_to(session, ticket, assign.argument, actor=agent, now=now, policy=policy, key=key)
    return outgoing


def assign_to(
    session: Session, ticket: Ticket, agent: str, *, actor: str, now: datetime, policy: AgentPolicy, key: str
) -> list[OutgoingEmail]:
    """Give the ticket to `agent`; they are told unless they did it themselves."""
    assert ticket.id is not None
    if ticket.assigned_agent == agent:
        return []
    threads.add_event(
        session, ticket.id, now, "assigned", actor=actor, detail=f"{ticket.assigned_agent or '-'} -> {agent}"
    )
    ticket.assigned_agent = agent
    if agent == actor:
        return []
    message = MessageView(sender=actor, name="", text=f"{actor} assigned ticket #{ticket.id} to you.")
    return [
        mail.notification(
            ticket,
            to=agent,
            event="assigned",
            message=message,
            key=f"assign:{key}",
            now=now,
            policy=policy,
            history=mail.customer_history(session, ticket, policy.sla.zone),
        )
    ]


def set_status(
    session: Session, ticket: Ticket, status: str, *, actor: str, now: datetime, policy: AgentPolicy, reason: str = ""
) -> list[OutgoingEmail]:
    """Move the ticket to `status` with an event; an escalation tells the supervisors."""
    assert ticket.id is not None
    again = rules.escalates_again(ticket.status, status, reason)
    if ticket.status == status and not again:
        return []
    detail = ("again (already escalated)" if again else f"{ticket.status} -> {status}") + (
        f": {reason}" if reason else ""
    )
    threads.add_event(
        session, ticket.id, now, "escalated" if status == "escalated" else "status", actor=actor, detail=detail
    )
    reopening = ticket.status in ("resolved", "closed") and status in ("open", "escalated")
    ticket.status = status
    if reopening:
        start_cycle(ticket, at=now, sla=policy.sla)
        threads.add_event(session, ticket.id, now, "reopened", actor=actor, detail=f"cycle {ticket.cycle}")
    if status != "escalated":
        return []
    message = MessageView(sender=actor, name="", text=reason)
    group = told_on_escalation(
        category=ticket.category,
        assigned_group=ticket.assigned_group,
        routing=policy.routing,
        actor=actor,
        supervisors=policy.supervisors,
    )
    history = mail.customer_history(session, ticket, policy.sla.zone) if policy.supervisors else ()
    key = f"escalate:{now.isoformat()}"
    return [
        mail.notification(
            ticket, to=s, event="escalated", message=message, key=key, now=now, policy=policy, history=history
        )
        for s in (*policy.supervisors, *group)
    ]


def _by_cli(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """The CLI equivalent of an agent's email: same rules, but a mistake is an error, not a mail."""
    ticket = _ticket_for(session, ticket_id, agent, policy)
    _, errors = _read(ticket, text, policy)
    if errors:
        raise AgentActionError("; ".join(errors))
    key = mail.digest("cli", agent, text, now.isoformat())
    return act(session, ticket, agent=agent.lower(), text=text, key=key, when=now, now=now, policy=policy)


def _ticket_for(session: Session, ticket_id: int, agent: str, policy: AgentPolicy) -> Ticket:
    if not policy.is_agent(agent):
        raise AgentActionError(f"{agent} is not a configured agent")
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise AgentActionError(f"no ticket #{ticket_id}")
    return ticket


def reply(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """Answer the user (commands on top allowed); the ticket waits for the user unless told otherwise."""
    if not text.strip():
        raise AgentActionError("empty reply")
    return _by_cli(session, ticket_id, agent, text, now, policy)


def note(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """An internal note; the other agents are told, the user gets nothing."""
    return _by_cli(session, ticket_id, agent, "#note\n" + text, now, policy)


def escalate(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """Escalate with `text` as the reason; supervisors are told."""
    return _by_cli(session, ticket_id, agent, "#escalate " + " ".join(text.split()), now, policy)


def resolve(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """Mark resolved; a non-empty `text` is sent to the user as the last answer."""
    return _by_cli(session, ticket_id, agent, "#resolve\n" + text, now, policy)


def close(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """Close; a non-empty `text` is sent to the user first."""
    return _by_cli(session, ticket_id, agent, "#close\n" + text, now, policy)


def assign(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """Give the ticket to the agent (or the group) named in `text`."""
    return _by_cli(session, ticket_id, agent, "#assign " + text.strip(), now, policy)


def reopen(
    session: Session, ticket_id: int, agent: str, text: str, now: datetime, policy: AgentPolicy
) -> tuple[OutgoingEmail, ...]:
    """Back to `open` with a new response cycle from now; `text` (optional) is kept as a note."""
    ticket = _ticket_for(session, ticket_id, agent, policy)
    assert ticket.id is not None
    if ticket.status in ("open", "escalated"):
        raise AgentActionError(f"ticket #{ticket_id} is already {ticket.status}")
    threads.add_event(session, ticket.id, now, "status", actor=agent, detail=f"{ticket.status} -> open")
    ticket.status = "open"
    start_cycle(ticket, at=now, sla=policy.sla)
    threads.add_event(session, ticket.id, now, "reopened", actor=agent, detail=f"cycle {ticket.cycle}")
    if text.strip():
        store_message(session, ticket.id, kind="note", sender=agent, text=text.strip(), message_id="", at=now)
    ticket.updated_at = now
    session.add(ticket)
    return ()
