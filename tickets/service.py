"""Use cases. Each takes the session and `now`; the caller's unit of work commits."""

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from tickets import agent_service, bounce_service, rules, spool
from tickets import repository as repo
from tickets.agent_mail import AgentPolicy
from tickets.inserts import insert_row
from tickets.mail_context import AckContext, Person, TicketView
from tickets.models import AttachmentRow, Message, Ticket
from tickets.sla import Cycle, SlaPolicy, start_cycle
from tickets.values import IncomingMessage, IngestResult, OutgoingEmail, ReceiptKey

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class AckTally:
    """Acknowledgements decided in the caller's transaction and not in the outbox yet, per
    recipient: the per-sender cap counts them beside those already queued."""

    pending: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestPolicy:
    """The settings ingest decisions depend on."""

    helpdesk_address: str
    own_addresses: frozenset[str]
    sla: SlaPolicy  # due times of every cycle, and the target the acknowledgement states
    default_language: str = "es"
    categories: tuple[rules.CategoryRuleSpec, ...] = ()
    acks_per_hour: int = 5
    agents: AgentPolicy | None = None  # when set, agents work by email (tokens, commands, relay)


def ingest(
    session: Session,
    *,
    key: ReceiptKey,
    raw: bytes,
    msg: IncomingMessage,
    arrived_at: datetime,
    now: datetime,
    policy: IngestPolicy,
    bounce_of: int | None = None,
    receipt_id: int | None = None,
    acks: AckTally | None = None,
) -> IngestResult:
    """Decide what one parsed, spooled message is (new ticket, follow-up, or neither), store that,
    and record the decision on its receipt.

    `receipt_id` is the message's spooled receipt; without one (a caller that skips the spool:
    tests, benchmarks) the message is spooled here, in the same transaction. `bounce_of` is the
    outbox row a verified VERP bounce address names, if any. `acks` counts the acknowledgements
    decided earlier in the caller's transaction that are not in the outbox yet (a batch whose mail
    is written at its end); without it, each acknowledgement is taken to be queued at once.
    """
    if receipt_id is None:
        incoming = spool.Incoming(uid=key.uid, raw=raw, arrived_at=arrived_at, size=len(raw))
        (receipt,) = spool.spool(
            session,
            mailbox=key.mailbox,
            uidvalidity=key.uidvalidity,
            messages=[incoming],
            now=now,
            holder="",
            lease=timedelta(0),
        )
        if not receipt.fresh:
            return IngestResult(
                action="already", ticket_id=receipt.ticket_id, reason=f"receipt {receipt.id} is {receipt.status}"
            )
        receipt_id = receipt.id
    result = _decide(session, msg, arrived_at, now, policy, bounce_of, receipt_id, acks or AckTally())
    spool.record_outcome(
        session,
        receipt_id,
        status=_RECEIPT_STATUS.get(result.action, result.action),
        reason=result.reason,
        ticket_id=result.ticket_id,
        message_id=msg.message_id,
    )
    if result.action in ("ticketed", "followup", "attached") and result.ticket_id is not None:
        _store_message(session, receipt_id, msg, result.ticket_id, arrived_at, kind=_kind_of(msg))
    return result


_RECEIPT_STATUS = {"followup": "ticketed", "attached": "ticketed", "agent": "ticketed", "agent-refused": "ticketed"}


def _kind_of(msg: IncomingMessage) -> str:
    return {"auto-reply": "auto", "bulk": "auto", "bounce": "bounce"}.get(msg.auto, "user")


def _decide(
    session: Session,
    msg: IncomingMessage,
    arrived_at: datetime,
    now: datetime,
    policy: IngestPolicy,
    bounce_of: int | None,
    receipt_id: int,
    acks: AckTally,
) -> IngestResult:
    same = spool.same_message(session, message_id=msg.message_id, receipt_id=receipt_id)
    if same is not None:
        return IngestResult(action="duplicate", ticket_id=same[1], reason=f"same message as receipt {same[0]}")
    if msg.from_count != 1 or not msg.sender.email:
        return IngestResult(action="quarantined", reason=f"no single sender address (From has {msg.from_count})")
    if msg.auto in ("loop", "own"):
        return IngestResult(action="ignored", reason=f"{msg.auto}: {msg.auto_reason}")
    if msg.auto == "bounce":
        return bounce_service.attach_bounce(session, msg, now, bounce_of)
    if bounce_of is not None:
        return bounce_service.attach_envelope_reply(session, msg, bounce_of)
    if policy.agents is not None:
        handled = agent_service.handle_agent_message(
            session,
            msg=msg,
            reply_text=msg.reply_text,
            arrived_at=arrived_at,
            now=now,
            policy=policy.agents,
            html_only=msg.html_only,
        )
        if handled is not None:
            return handled
    decision = _thread(session, msg, now)
    if msg.auto:
        if decision.action == "join" and decision.ticket_id is not None:
            return IngestResult(
                action="attached", ticket_id=decision.ticket_id, reason=f"{msg.auto}: {msg.auto_reason}"
            )
        return IngestResult(action="ignored", reason=f"{msg.auto}: {msg.auto_reason}")
    if decision.action == "join" and decision.ticket_id is not None:
        return _follow_up(session, decision.ticket_id, arrived_at, msg, now, policy)
    return _new_ticket(session, arrived_at, msg, now, policy, linked=decision, acks=acks)


def _thread(session: Session, msg: IncomingMessage, now: datetime) -> rules.ThreadDecision:
    by_headers = repo.tickets_by_message_ids(session, [*msg.references, *msg.in_reply_to])
    by_subject = list(rules.subject_ticket_refs(msg.subject))
    decision = rules.decide_thread(
        msg,
        by_headers=repo.ticket_facts(session, by_headers),
        by_subject=repo.ticket_facts(session, by_subject),
    )
    for ticket_id in decision.refused[:5]:
        # Recorded on the ticket for its agents; nothing of it reaches the outsider.
        detail = "referenced this ticket without belonging to it; kept out (a ticket of their own)"
        repo.add_event(session, ticket_id, now, "outsider-reference", actor=msg.sender.email, detail=detail)
    if decision.refused:  # debug: the message's one decision line (the pipeline's) gives the reason
        logger.debug("stranger did not join a ticket", extra={"action": "thread", "reason": decision.reason})
    return decision


def _new_ticket(
    session: Session,
    arrived_at: datetime,
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    *,
    linked: rules.ThreadDecision,
    acks: AckTally,
) -> IngestResult:
    text = f"{msg.subject}\n{msg.text}"
    category, priority = rules.categorise(text, policy.categories)
    cycle = policy.sla.cycle(priority, number=1, start=arrived_at)
    facts = {
        "status": "open",
        "priority": priority,
        "category": category,
        "language": rules.detect_language(text, policy.default_language),
        "requester_email": msg.sender.email,
        "requester_name": msg.sender.name[:500],
        "subject": msg.subject,
        "assigned_agent": "",
    }
    linked_id = linked.ticket_id if linked.action == "new-linked" else None
    values = {
        **facts,
        "created_at": arrived_at,
        "updated_at": now,
        **cycle.columns(),
        "linked_ticket_id": linked_id,
        "requester_undeliverable": False,
    }
    ticket_id = insert_row(session, Ticket, values)
    repo.add_participant(session, ticket_id, msg.sender.email, "requester")
    for cc in rules.not_own((c.email for c in msg.cc), policy.own_addresses | {policy.helpdesk_address}):
        repo.add_participant(session, ticket_id, cc, "cc")
    detail = f"from {msg.sender.email}; category {category}; priority {priority}"
    if linked_id:
        detail += f"; follows closed ticket #{linked_id}"
    repo.add_event(session, ticket_id, now, "created", actor=msg.sender.email, detail=detail)
    context = _ack_context(ticket_id, facts, cycle, policy.sla)
    outgoing = _acknowledgement(session, context, facts["language"], msg, now, policy, acks)
    if policy.agents is not None:
        # A detached copy of the row just inserted: what the notifications read, without a SELECT.
        ticket = Ticket(id=ticket_id, **values)  # type: ignore[arg-type]  # the columns' values, of mixed types
        outgoing += agent_service.notify_agents(session, ticket, msg, now, policy.agents, event="new")
    return IngestResult(action="ticketed", ticket_id=ticket_id, reason=linked.reason, outgoing=outgoing)


def _acknowledgement(
    session: Session,
    context: AckContext,
    language: str,
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    acks: AckTally,
) -> tuple[OutgoingEmail, ...]:
    ticket_id = context.ticket.id
    since = now - timedelta(hours=1)
    queued = repo.count_outbox_since(session, kind="ack", recipient=msg.sender.email, since=since)
    recent = queued + acks.pending[msg.sender.email]
    refusal = rules.ack_refusal(
        msg,
        own_addresses=policy.own_addresses | {policy.helpdesk_address},
        acks_last_hour=recent,
        limit=policy.acks_per_hour,
        answers_robot=repo.automatic_kind_among(session, [*msg.in_reply_to, *msg.references]),
    )
    if refusal:
        repo.add_event(session, ticket_id, now, "ack-suppressed", detail=refusal)
        return ()
    intent = OutgoingEmail(
        kind="ack",
        ticket_id=ticket_id,
        to=(msg.sender.email,),
        idempotency_key=f"ack:{ticket_id}",
        language=language,
        auto_submitted="auto-replied",
        in_reply_to=msg.message_id,
        references=(*msg.references[-10:], msg.message_id),
        context=context,
    )
    acks.pending[msg.sender.email] += 1
    return (intent,)


def _ack_context(ticket_id: int, facts: Mapping[str, str], cycle: Cycle, sla: SlaPolicy) -> AckContext:
    """The reference, and the ticket's own response target as the user reads it."""
    promise = sla.promise(facts["priority"], response_due=cycle.response_due_at)
    return AckContext(
        ticket=TicketView(
            id=ticket_id,
            subject=facts["subject"],
            status=facts["status"],
            priority=facts["priority"],
            category=facts["category"],
            assigned_agent=facts["assigned_agent"],
        ),
        requester=Person(name=facts["requester_name"], email=facts["requester_email"]),
        response_hours=promise.hours,
        response_due_at=promise.due_at,
        working_hours=promise.working_hours,
    )


def _follow_up(
    session: Session, ticket_id: int, arrived_at: datetime, msg: IncomingMessage, now: datetime, policy: IngestPolicy
) -> IngestResult:
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    if rules.reopens(ticket.status):
        ticket.status = "open"
        start_cycle(ticket, at=arrived_at, sla=policy.sla)
        repo.add_event(session, ticket_id, now, "reopened", actor=msg.sender.email, detail=f"cycle {ticket.cycle}")
    ticket.updated_at = now
    session.add(ticket)
    repo.add_event(session, ticket_id, now, "user-message", actor=msg.sender.email)
    outgoing: tuple[OutgoingEmail, ...] = ()
    if policy.agents is not None:
        outgoing = agent_service.notify_agents(
            session, ticket, msg, now, policy.agents, event="followup", text=msg.reply_text or msg.text
        )
    return IngestResult(action="followup", ticket_id=ticket_id, outgoing=outgoing)


def _store_message(
    session: Session, receipt_id: int, msg: IncomingMessage, ticket_id: int, arrived_at: datetime, *, kind: str
) -> None:
    message_row = insert_row(
        session,
        Message,
        {
            "ticket_id": ticket_id,
            "receipt_id": receipt_id,
            "direction": "in",
            "kind": kind,
            "from_addr": msg.sender.email,
            "from_name": msg.sender.name[:500],
            "to_addrs": ", ".join(a.email for a in msg.to if a.email),
            "cc_addrs": ", ".join(a.email for a in msg.cc if a.email),
            "subject": msg.subject,
            "message_id": msg.message_id[:1000],
            "text": msg.text,
            "html": msg.html,
            "created_at": arrived_at,
        },
    )
    for attachment in msg.attachments:
        sha = hashlib.sha256(attachment.data).hexdigest()
        repo.put_blob(session, sha, attachment.data)
        insert_row(
            session,
            AttachmentRow,
            {
                "message_id": message_row,
                "filename": attachment.filename[:255],
                "content_type": attachment.content_type[:255],
                "size": len(attachment.data),
                "sha256": sha,
            },
        )
