"""Use cases. Each takes the session and `now`; the caller's unit of work commits."""

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from tickets import repository as repo
from tickets import threads
from tickets.agents import service as agent_service
from tickets.agents.mail import AgentPolicy, UserFiles
from tickets.faq import suggest as faq_suggest
from tickets.ingest import ack, rules, spool
from tickets.ingest import bounces as bounce_service
from tickets.ingest.batch import IngestBatch
from tickets.models import Ticket
from tickets.sla.policy import SlaPolicy, start_cycle
from tickets.threads import ThreadBuffer
from tickets.values import IncomingMessage, IngestAction, IngestResult, OutgoingEmail, ReceiptKey
from tickets.web.spam import WEB_MAILBOX

logger = logging.getLogger(__name__)


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
    if msg.content_language and key.mailbox != WEB_MAILBOX:  # a mail client's locale is not the text's
        msg = dataclasses.replace(msg, content_language="")
    same = (msg.message_id, hashlib.sha256(raw).hexdigest())
    earlier = batch.seen.get(same) if batch is not None else None
    if earlier is not None:
        reason = f"same message as receipt {earlier[0]}"
        result = IngestResult(action=IngestAction.DUPLICATE, ticket_id=earlier[1], reason=reason)
    else:
        result = _decide(session, msg, arrived_at, now, policy, bounce_of, receipt_id, batch)
    _record(session, receipt_id, msg, result, now, batch, same)
    if result.action == IngestAction.ATTACHED and result.ticket_id is not None:  # (the others store their own)
        rows = batch.rows if batch is not None else None
        threads.add_inbound(session, receipt_id, msg, result.ticket_id, arrived_at, kind=_kind_of(msg), buffer=rows)
    return result


def _record(
    session: Session,
    receipt_id: int,
    msg: IncomingMessage,
    result: IngestResult,
    now: datetime,
    batch: IngestBatch | None,
    same: tuple[str, str],
) -> None:
    """The receipt's decision: written now, or with the batch's at its end."""
    status = _RECEIPT_STATUS.get(result.action, result.action)
    decision = spool.outcome(
        status=status,
        reason=result.reason,
        ticket_id=result.ticket_id,
        message_id=msg.message_id,
        sender=(msg.sender.email, msg.sender.name),
        subject=msg.subject,
        now=now,
    )
    if batch is None:
        spool.record_outcomes(session, [(receipt_id, decision)])
        return
    batch.outcomes.append((receipt_id, decision))
    if status not in spool.WAITING:
        batch.seen.setdefault(same, (receipt_id, result.ticket_id))


# A new ticket or a follow-up stores its message before telling the agents (who get its files'
# ids); an auto-reply kept on its ticket (ATTACHED) is stored by `ingest`.
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
    unseen = batch is not None and msg.message_id in batch.unseen  # no processed copy: no query
    same = None if unseen else spool.same_message(session, message_id=msg.message_id, receipt_id=receipt_id)
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
        return _follow_up(session, decision.ticket_id, (receipt_id, arrived_at), msg, now, policy, rows)
    return _new_ticket(session, (receipt_id, arrived_at), msg, now, policy, linked=decision, batch=batch)


def _thread(session: Session, msg: IncomingMessage, now: datetime, rows: ThreadBuffer | None) -> rules.ThreadDecision:
    if rows is not None and rows.messages and (msg.references or msg.in_reply_to):
        rows.flush(session)  # messages earlier in this batch are looked up next
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


def _store_inbound(
    session: Session, ticket_id: int, msg: IncomingMessage, arrival: tuple[int, datetime], rows: ThreadBuffer | None
) -> UserFiles:
    """The user's message on its ticket (one without files may wait in `rows`); its files as
    stored, for the agents' notification."""
    receipt_id, arrived_at = arrival
    stored = threads.add_inbound(session, receipt_id, msg, ticket_id, arrived_at, kind=_kind_of(msg), buffer=rows)
    return UserFiles.of(stored, msg.attachments)


def _new_ticket(
    session: Session,
    arrival: tuple[int, datetime],
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    *,
    linked: rules.ThreadDecision,
    batch: IngestBatch | None,
) -> IngestResult:
    arrived_at = arrival[1]
    body, language, text_language, category, priority = _classify(msg, policy)
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
    rows = batch.rows if batch is not None else None
    ticket_id = threads.insert_ticket(session, values, buffer=rows)
    first = batch is not None and msg.sender.email in batch.ticketless  # their first ticket: no history
    if batch is not None:
        batch.ticketless.discard(msg.sender.email)
    threads.add_participant(session, ticket_id, msg.sender.email, "requester", buffer=rows)
    for cc in rules.not_own((c.email for c in msg.cc), policy.own_addresses | {policy.helpdesk_address}):
        threads.add_participant(session, ticket_id, cc, "cc", buffer=rows)
    detail = f"from {msg.sender.email}; category {category}; priority {priority}"
    if linked_id:
        detail += f"; follows closed ticket #{linked_id}"
    threads.add_event(session, ticket_id, now, "created", actor=msg.sender.email, detail=detail, buffer=rows)
    found = faq_suggest.suggestions_for(
        policy.faq, subject=msg.subject, text=body, language=text_language, category=category
    )
    context = ack.ack_context(ticket_id, facts, cycle, policy.sla, faq_suggest.links(found))
    own = policy.own_addresses | {policy.helpdesk_address}
    outgoing = ack.acknowledgement(
        session, context, msg, now, language=facts["language"], own=own, limit=policy.acks_per_hour, batch=batch
    )
    files = _store_inbound(session, ticket_id, msg, arrival, rows)
    suggested = faq_suggest.links(found) if outgoing else ()  # told to the agents only when the user got them
    if suggested:
        detail = faq_suggest.event_detail(found)
        threads.add_event(session, ticket_id, now, faq_suggest.EVENT, detail=detail, buffer=rows)
    if policy.agents is not None:
        # A detached copy of the row just inserted: what the notifications read, without a SELECT.
        ticket = Ticket(id=ticket_id, **values)  # type: ignore[arg-type]  # the columns' values, of mixed types
        notices = agent_service.notify_agents(
            session, ticket, msg, now, policy.agents, event="new", rows=rows, files=files, first=first
        )
        outgoing += faq_suggest.with_suggested(notices, suggested)
    return IngestResult(action=IngestAction.TICKETED, ticket_id=ticket_id, reason=linked.reason, outgoing=outgoing)


def _classify(msg: IncomingMessage, policy: IngestPolicy) -> tuple[str, str, str, str, str]:
    """The user's own text (no quoted history, no signature), the ticket's language (the web form
    page's, else the text's), the text's language (what its words are matched in), category and
    priority."""
    body = msg.reply_text or msg.text
    text_language = rules.detect_language(f"{msg.subject}\n{msg.text}", policy.default_language)
    language = msg.content_language if msg.content_language in rules.LANGUAGES else text_language
    category, priority = rules.categorise(body, policy.categories, subject=msg.subject, language=text_language)
    return body, language, text_language, category, priority


def _follow_up(
    session: Session,
    ticket_id: int,
    arrival: tuple[int, datetime],
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    rows: ThreadBuffer | None,
) -> IngestResult:
    arrived_at = arrival[1]
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
    files = _store_inbound(session, ticket_id, msg, arrival, rows)
    outgoing: tuple[OutgoingEmail, ...] = ()
    if policy.agents is not None:
        outgoing = agent_service.notify_agents(
            session, ticket, msg, now, policy.agents, event="followup", text=msg.reply_text or msg.text, files=files
        )
    return IngestResult(action=IngestAction.FOLLOWUP, ticket_id=ticket_id, outgoing=outgoing)
