"""Agents act by email or CLI: relay replies, apply commands, and keep impostors out (invariant 4).

Use cases take (session, ..., now, policy) and return intents; the caller's unit of work
commits and the shell renders and queues the intents in the same transaction. `tickets/`
never strips quotes itself: the shell passes the agent's text with the quoted history and
signature already removed (`mailer.quotes.strip_reply`).
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from tickets import repository as repo
from tickets import threads
from tickets.agents import auth_results, mail, rotation, routing, tokens
from tickets.agents.actions import AgentActionError, act, store_message
from tickets.agents.mail import AgentPolicy
from tickets.ingest import rules
from tickets.mail_context import MessageView
from tickets.models import Ticket
from tickets.threads import ThreadBuffer
from tickets.values import IncomingMessage, IngestAction, IngestResult, OutgoingEmail

logger = logging.getLogger(__name__)
MAX_OLD_EPOCHS = 20  # how far back a stale reply address is still recognised (to explain the refusal)
__all__ = ["AgentPolicy", "AgentActionError", "handle_agent_message", "notify_agents", "act"]


def handle_agent_message(
    session: Session,
    *,
    msg: IncomingMessage,
    reply_text: str,
    arrived_at: datetime,
    now: datetime,
    policy: AgentPolicy,
    html_only: bool = False,
) -> IngestResult | None:
    """Decide a message from an agent address or to an agent's reply address; None = not one.

    `reply_text` is the message's plain text with quoted history and signature stripped by the
    shell; `html_only` says the text was rendered from HTML (no text/plain part).
    """
    sender = msg.sender.email
    found = tokens.find_tokens(
        addresses=[*msg.envelope_to, *(a.email for a in (*msg.to, *msg.cc))],
        helpdesk_address=policy.helpdesk_address,
    )
    agent_tokens = [t for t in found if t.role == "a"]
    if not policy.is_agent(sender):
        return _foreign_token(session, msg, reply_text, agent_tokens, now, policy)
    if msg.auto:
        return IngestResult(action=IngestAction.IGNORED, reason=f"{msg.auto} from agent: {msg.auto_reason}"[:500])
    ticket, why = _proven_ticket(session, msg, agent_tokens, policy)
    if ticket is None:
        hinted = _hinted_ticket(session, msg, [t.ticket_id for t in agent_tokens])
        if hinted is None:
            return None  # an agent writing to support like anyone else: a new ticket
        return _reject(session, hinted, msg, reply_text, agent=sender, reason=why, now=now, policy=policy)
    seen_by = mail.outsiders((a.email for a in (*msg.to, *msg.cc)), policy)
    if seen_by:  # they saw this agent's reply address: the mail act() sends the agent carries a new one
        _replace_reply_addresses(session, ticket, now, why=f"{sender} copied {', '.join(seen_by)}"[:2000])
    outgoing = act(
        session,
        ticket,
        agent=sender,
        text=reply_text,
        key=msg.raw_sha256,
        message_id=msg.message_id,
        when=arrived_at,
        now=now,
        policy=policy,
        agent_name=msg.sender.name,
        html_only=html_only,
        thread=(*msg.in_reply_to, *msg.references),
        attachments=msg.attachments,
    )
    if seen_by:
        outgoing = (
            *outgoing,
            mail.address_replaced(ticket, to=sender, seen_by=seen_by, key=msg.raw_sha256, now=now, policy=policy),
        )
    return IngestResult(action=IngestAction.AGENT, ticket_id=ticket.id, reason=f"agent {sender}", outgoing=outgoing)


def _proven_ticket(
    session: Session, msg: IncomingMessage, agent_tokens: Sequence[tokens.ReplyToken], policy: AgentPolicy
) -> tuple[Ticket | None, str]:
    """The ticket an agent's message proves itself for, or (None, why not).

    The proof is the agent's token in the address the mail was sent to (To, Cc, Delivered-To,
    X-Original-To), plus our MTA's DKIM/DMARC pass when `authserv_id` and `require_dkim` are set.
    A mail that lost the plus-address (a client that answered our From, a provider that drops
    plus-addresses) is known by the mail of ours it answers (In-Reply-To/References naming mail
    we sent to this agent) only when our MTA vouches for the agent's DKIM/DMARC: a Message-ID
    alone proves nothing, everyone in the thread has them.
    """
    sender = msg.sender.email
    ticket, stale = _token_ticket(session, agent_tokens, sender, policy)
    if ticket is None and stale:
        return None, "reply address replaced after it was seen outside; answer the newest mail about this ticket"
    if ticket is None and agent_tokens:
        return None, "reply token not valid for this agent"
    if ticket is not None and not (policy.authserv_id and policy.require_dkim):
        return ticket, ""
    if not policy.authserv_id:
        return None, "no reply token"
    verdict = auth_results.check(msg.authentication_results, policy.authserv_id, sender=sender)
    if not verdict.passed:
        return None, verdict.reason if ticket is not None else f"no reply token and {verdict.reason}"
    if ticket is None:
        mailed = repo.tickets_mailed_to(session, [*msg.in_reply_to, *msg.references], sender)
        ticket = next((t for t in (session.get(Ticket, i) for i in mailed) if t is not None), None)
    return (ticket, "") if ticket is not None else (None, "no reply token")


def _foreign_token(
    session: Session,
    msg: IncomingMessage,
    text: str,
    agent_tokens: Sequence[tokens.ReplyToken],
    now: datetime,
    policy: AgentPolicy,
) -> IngestResult | None:
    """Someone who is not the agent used an agent's genuine reply address: record it, tell the agent."""
    for token in agent_tokens:
        agent = policy.agent_at(token.recipient_id)
        ticket, stale = _token_ticket(session, [token], agent or "", policy)
        ticket = ticket or stale
        if agent and ticket is not None:
            if msg.auto:
                return IngestResult(action=IngestAction.IGNORED, reason=f"{msg.auto} to an agent's reply address")
            if ticket is not stale:  # a current address is known outside: replace it before telling the agent
                _replace_reply_addresses(session, ticket, now, why=f"used by {msg.sender.email}")
            reason = f"sent by {msg.sender.email}, not by {agent} whose reply address it used"
            return _reject(session, ticket, msg, text, agent=agent, reason=reason, now=now, policy=policy)
    return None  # no genuine agent token: an ordinary message


def _token_ticket(
    session: Session, agent_tokens: Sequence[tokens.ReplyToken], email: str, policy: AgentPolicy
) -> tuple[Ticket | None, Ticket | None]:
    """(ticket a token is valid for now, ticket a token was valid for before its epoch was raised)."""
    stale: Ticket | None = None
    for token in agent_tokens:
        ticket = session.get(Ticket, token.ticket_id)
        if ticket is None or not email:
            continue
        if tokens.verify(policy.keyring, token, email=email, epoch=ticket.token_epoch):
            return ticket, None
        old = range(max(0, ticket.token_epoch - MAX_OLD_EPOCHS), ticket.token_epoch)
        if stale is None and any(tokens.verify(policy.keyring, token, email=email, epoch=e) for e in old):
            stale = ticket
    return None, stale


def _replace_reply_addresses(session: Session, ticket: Ticket, now: datetime, *, why: str) -> None:
    """Make every agent reply address of this ticket minted so far worthless (invariant 4)."""
    assert ticket.id is not None
    ticket.token_epoch += 1
    session.add(ticket)
    threads.add_event(session, ticket.id, now, "reply-address-replaced", actor="system", detail=why[:2000])
    logger.info("reply addresses replaced: %s", why, extra={"action": "reply-address-replaced", "ticket": ticket.id})


def _hinted_ticket(session: Session, msg: IncomingMessage, token_tickets: Sequence[int]) -> Ticket | None:
    """The ticket an unauthenticated agent message points at (its tokens, thread headers, [#N])."""
    ids = [*token_tickets, *repo.tickets_by_message_ids(session, [*msg.references, *msg.in_reply_to])]
    ids += list(rules.subject_ticket_refs(msg.subject))
    return next((t for t in (session.get(Ticket, i) for i in ids) if t is not None), None)


def _reject(
    session: Session,
    ticket: Ticket,
    msg: IncomingMessage,
    text: str,
    *,
    agent: str,
    reason: str,
    now: datetime,
    policy: AgentPolicy,
) -> IngestResult:
    """Keep the attempt as an internal record on the ticket; tell the real agent; relay nothing."""
    assert ticket.id is not None
    detail = f"from {msg.sender.email}: {reason}"
    threads.add_event(session, ticket.id, now, "agent-unauthenticated", actor=msg.sender.email, detail=detail[:2000])
    store_message(
        session, ticket.id, kind="unverified", sender=msg.sender.email, text=text, message_id=msg.message_id, at=now
    )
    logger.info("agent action refused: %s", reason, extra={"action": "agent-refused", "ticket": ticket.id})
    alert = mail.command_error(
        ticket,
        to=agent,
        command=msg.subject or "(no subject)",
        error=f"A message claiming to be from you was not applied and reached nobody: {reason}.",
        key=f"unverified:{msg.raw_sha256}",
        policy=policy,
    )
    return IngestResult(action=IngestAction.AGENT_REFUSED, ticket_id=ticket.id, reason=reason[:500], outgoing=(alert,))


def notify_agents(
    session: Session,
    ticket: Ticket,
    msg: IncomingMessage,
    now: datetime,
    policy: AgentPolicy,
    *,
    event: str = "new",
    text: str | None = None,
    rows: ThreadBuffer | None = None,
    files: mail.UserFiles | None = None,
    first: bool = False,
) -> tuple[OutgoingEmail, ...]:
    """Tell the agents a user's message concerns (with its `files`, as stored); each gets its own token.
    `first`: the requester's first ticket, known to the caller (their history is not looked up).

    A new ticket goes to its category's group (with round-robin: to the member it is given to),
    else to every agent; a later message to its agent, else its group, else every agent.
    """
    assert ticket.id is not None
    recipients: Sequence[str]
    if event == "new":
        recipients = rotation.route_new(session, ticket, now, policy, buffer=rows).recipients
    elif not policy.routing.groups:
        assigned = ticket.assigned_agent and policy.is_agent(ticket.assigned_agent)
        recipients = (ticket.assigned_agent,) if assigned else policy.agents
    else:
        recipients = routing.recipients_of(
            category=ticket.category,
            assigned_agent=ticket.assigned_agent,
            assigned_group=ticket.assigned_group,
            routing=policy.routing,
            agents=policy.agents,
            away=rotation.away_until(session),
            now=now,
        )
    message = MessageView(sender=msg.sender.email, name=msg.sender.name, text=msg.text if text is None else text)
    thread = (*msg.references, msg.message_id)
    recipients = [agent for agent in recipients if agent != msg.sender.email]
    history = mail.customer_history(session, ticket, policy.sla.zone) if recipients and not first else ()
    return tuple(
        mail.notification(
            ticket,
            to=agent,
            event=event,
            message=message,
            key=msg.raw_sha256,
            now=now,
            policy=policy,
            thread=thread,
            history=history,
            files=files,
        )
        for agent in recipients
    )
