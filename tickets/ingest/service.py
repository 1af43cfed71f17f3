"""Use cases. Each takes the session and `now`; the caller's unit of work commits."""

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from tickets import repository as repo
from tickets import threads
from tickets.agents import service as agent_service
from tickets.agents.mail import AgentPolicy
from tickets.faq import suggest as faq_suggest
from tickets.ingest import bounces as bounce_service
from tickets.ingest import rules, spool
from tickets.mail_context import AckContext, FaqLink, Person, TicketView
from tickets.models import Ticket
from tickets.sla.policy import Cycle, SlaPolicy, start_cycle
from tickets.threads import ThreadBuffer
from tickets.values import IncomingMessage, IngestAction, IngestResult, OutgoingEmail, ReceiptKey

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestBatch:
    """What a batch stored in one transaction holds until its end, passed by the caller: the
    acknowledgements decided and not in the outbox yet (the per-sender cap counts them beside those
    already queued), and the thread rows (events, participants) waiting to go in together."""

    acks: Counter[str] = field(default_factory=Counter)
    rows: ThreadBuffer = field(default_factory=ThreadBuffer)


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
    faq: faq_suggest.FaqPolicy | None = None  # when set, acknowledgements suggest FAQ entries


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
    batch: IngestBatch | None = None,
) -> IngestResult:
    """Decide what one parsed, spooled message is (new ticket, follow-up, or neither), store that,
    and record the decision on its receipt.

    `receipt_id` is the message's spooled receipt; without one (a caller that skips the spool:
    tests, benchmarks) the message is spooled here, in the same transaction. `bounce_of` is the
    outbox row a verified VERP bounce address names, if any. `batch`: the state of the caller's
    batch whose mail and thread rows are written at its end; without one, each write is made at
    once (and each acknowledgement taken to be queued at once).
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
            reason = f"receipt {receipt.id} is {receipt.status}"
            return IngestResult(action=IngestAction.ALREADY, ticket_id=receipt.ticket_id, reason=reason)
        receipt_id = receipt.id
    result = _decide(session, msg, arrived_at, now, policy, bounce_of, receipt_id, batch)
    spool.record_outcome(
        session,
        receipt_id,
        status=_RECEIPT_STATUS.get(result.action, result.action),
        reason=result.reason,
        ticket_id=result.ticket_id,
        message_id=msg.message_id,
        sender=(msg.sender.email, msg.sender.name),
        subject=msg.subject,
        now=now,
    )
    if result.action in STORED_ON_THE_TICKET and result.ticket_id is not None:
        threads.add_inbound(session, receipt_id, msg, result.ticket_id, arrived_at, kind=_kind_of(msg))
    return result


STORED_ON_THE_TICKET = (IngestAction.TICKETED, IngestAction.FOLLOWUP, IngestAction.ATTACHED)
_RECEIPT_STATUS = {
    IngestAction.FOLLOWUP: "followup",
    IngestAction.ATTACHED: "followup",
    IngestAction.AGENT: "agent",
    IngestAction.AGENT_REFUSED: "agent",
    IngestAction.RECORDED: "ignored",
}


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
    batch: IngestBatch | None,
) -> IngestResult:
    same = spool.same_message(session, message_id=msg.message_id, receipt_id=receipt_id)
    if same is not None:
        reason = f"same message as receipt {same[0]}"
        return IngestResult(action=IngestAction.DUPLICATE, ticket_id=same[1], reason=reason)
    if msg.from_count != 1 or not msg.sender.email:
        reason = f"no single sender address (From has {msg.from_count})"
        return IngestResult(action=IngestAction.QUARANTINED, reason=reason)
    if msg.auto in ("loop", "own"):
        return IngestResult(action=IngestAction.IGNORED, reason=f"{msg.auto}: {msg.auto_reason}")
    if msg.auto == "bounce":
        return bounce_service.attach_bounce(session, msg, now, bounce_of)
    if bounce_of is not None:
        return bounce_service.attach_envelope_reply(session, msg, bounce_of)
    if policy.agents is not None:
        if batch is not None and policy.agents.is_agent(msg.sender.email):
            batch.rows.flush(session)  # an agent's reply reads the ticket's participants back
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
    rows = batch.rows if batch is not None else None
    decision = _thread(session, msg, now, rows)
    if msg.auto:
        if decision.action == rules.ThreadAction.JOIN and decision.ticket_id is not None:
            return IngestResult(
                action=IngestAction.ATTACHED, ticket_id=decision.ticket_id, reason=f"{msg.auto}: {msg.auto_reason}"
            )
        return IngestResult(action=IngestAction.IGNORED, reason=f"{msg.auto}: {msg.auto_reason}")
    if decision.action == rules.ThreadAction.JOIN and decision.ticket_id is not None:
        return _follow_up(session, decision.ticket_id, arrived_at, msg, now, policy, rows)
    return _new_ticket(session, arrived_at, msg, now, policy, linked=decision, batch=batch)


def _thread(
    session: Session, msg: IncomingMessage, now: datetime, rows: ThreadBuffer | None
) -> rules.ThreadDecision:
    by_headers = repo.tickets_by_message_ids(session, [*msg.references, *msg.in_reply_to])
    by_subject = list(rules.subject_ticket_refs(msg.subject))
    if rows is not None and (by_headers or by_subject):
        rows.flush(session)  # the participants of tickets made earlier in this batch are read next
    decision = rules.decide_thread(
        msg,
        by_headers=repo.ticket_facts(session, by_headers),
        by_subject=repo.ticket_facts(session, by_subject),
    )
    for ticket_id in decision.refused[:5]:
        # Recorded on the ticket for its agents; nothing of it reaches the outsider.
        detail = "referenced this ticket without belonging to it; kept out (a ticket of their own)"
        threads.add_event(
            session, ticket_id, now, "outsider-reference", actor=msg.sender.email, detail=detail, buffer=rows
        )
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
    batch: IngestBatch | None,
) -> IngestResult:
    body, language, category, priority = _classify(msg, policy)
    cycle = policy.sla.cycle(priority, number=1, start=arrived_at)
    facts = {
        "status": "open",
        "priority": priority,
        "category": category,
        "language": language,
        "requester_email": msg.sender.email,
        "requester_name": msg.sender.name[:500],
        "subject": msg.subject,
        "assigned_agent": "",
    }
    linked_id = linked.ticket_id if linked.action == rules.ThreadAction.NEW_LINKED else None
    values = {
        **facts,
        "created_at": arrived_at,
        "updated_at": now,
        **cycle.columns(),
        "linked_ticket_id": linked_id,
        "requester_undeliverable": False,
    }
    ticket_id = threads.insert_ticket(session, values)
    rows = batch.rows if batch is not None else None
    threads.add_participant(session, ticket_id, msg.sender.email, "requester", buffer=rows)
    for cc in rules.not_own((c.email for c in msg.cc), policy.own_addresses | {policy.helpdesk_address}):
        threads.add_participant(session, ticket_id, cc, "cc", buffer=rows)
    detail = f"from {msg.sender.email}; category {category}; priority {priority}"
    if linked_id:
        detail += f"; follows closed ticket #{linked_id}"
    threads.add_event(session, ticket_id, now, "created", actor=msg.sender.email, detail=detail, buffer=rows)
    found = faq_suggest.suggestions_for(
        policy.faq, subject=msg.subject, text=body, language=language, category=category
    )
    context = _ack_context(ticket_id, facts, cycle, policy.sla, faq_suggest.links(found))
    outgoing = _acknowledgement(session, context, facts["language"], msg, now, policy, batch)
    suggested = faq_suggest.links(found) if outgoing else ()  # told to the agents only when the user got them
    if suggested:
        detail = faq_suggest.event_detail(found)
        threads.add_event(session, ticket_id, now, faq_suggest.EVENT, detail=detail, buffer=rows)
    if policy.agents is not None:
        # A detached copy of the row just inserted: what the notifications read, without a SELECT.
        ticket = Ticket(id=ticket_id, **values)  # type: ignore[arg-type]  # the columns' values, of mixed types
        notices = agent_service.notify_agents(session, ticket, msg, now, policy.agents, event="new")
        outgoing += faq_suggest.with_suggested(notices, suggested)
    return IngestResult(action=IngestAction.TICKETED, ticket_id=ticket_id, reason=linked.reason, outgoing=outgoing)


def _classify(msg: IncomingMessage, policy: IngestPolicy) -> tuple[str, str, str, str]:
    """The user's own text (no quoted history, no signature), its language, category and priority."""
    body = msg.reply_text or msg.text
    language = rules.detect_language(f"{msg.subject}\n{msg.text}", policy.default_language)
    category, priority = rules.categorise(body, policy.categories, subject=msg.subject, language=language)
    return body, language, category, priority


def _acknowledgement(
    session: Session,
    context: AckContext,
    language: str,
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    batch: IngestBatch | None,
) -> tuple[OutgoingEmail, ...]:
    ticket_id = context.ticket.id
    since = now - timedelta(hours=1)
    queued = repo.count_outbox_since(session, kind="ack", recipient=msg.sender.email, since=since)
    recent = queued + (batch.acks[msg.sender.email] if batch is not None else 0)
    refusal = rules.ack_refusal(
        msg,
        own_addresses=policy.own_addresses | {policy.helpdesk_address},
        acks_last_hour=recent,
        limit=policy.acks_per_hour,
        answers_robot=repo.automatic_kind_among(session, [*msg.in_reply_to, *msg.references]),
    )
    if refusal:
        rows = batch.rows if batch is not None else None
        threads.add_event(session, ticket_id, now, "ack-suppressed", detail=refusal, buffer=rows)
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
    if batch is not None:
        batch.acks[msg.sender.email] += 1
    return (intent,)


def _ack_context(
    ticket_id: int, facts: Mapping[str, str], cycle: Cycle, sla: SlaPolicy, links: tuple[FaqLink, ...] = ()
) -> AckContext:
    """The reference, the ticket's own response target as the user reads it, and FAQ entries that may help."""
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
        faq=links,
        revocation_first=facts["category"] == faq_suggest.REVOCATION,
    )


def _follow_up(
    session: Session,
    ticket_id: int,
    arrived_at: datetime,
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    rows: ThreadBuffer | None,
) -> IngestResult:
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    if rules.reopens(ticket.status):
        ticket.status = "open"
        start_cycle(ticket, at=arrived_at, sla=policy.sla)
        detail = f"cycle {ticket.cycle}"
        threads.add_event(session, ticket_id, now, "reopened", actor=msg.sender.email, detail=detail, buffer=rows)
    ticket.updated_at = now
    session.add(ticket)
    threads.add_event(session, ticket_id, now, "user-message", actor=msg.sender.email, buffer=rows)
    outgoing: tuple[OutgoingEmail, ...] = ()
    if policy.agents is not None:
        outgoing = agent_service.notify_agents(
            session, ticket, msg, now, policy.agents, event="followup", text=msg.reply_text or msg.text
        )
    return IngestResult(action=IngestAction.FOLLOWUP, ticket_id=ticket_id, outgoing=outgoing)
