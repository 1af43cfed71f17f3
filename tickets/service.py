"""Use cases. Each takes the session and `now`; the caller's unit of work commits."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from tickets import agent_service, bounce_service, rules
from tickets import repository as repo
from tickets.agent_mail import AgentPolicy
from tickets.inserts import insert_row
from tickets.models import AttachmentRow, Message, Receipt, Ticket
from tickets.outgoing_thread import automatic_kind_among
from tickets.sla import SlaPolicy
from tickets.values import IncomingMessage, IngestResult, OutgoingEmail, ReceiptKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestPolicy:
    """The settings ingest decisions depend on."""

    helpdesk_address: str
    own_addresses: frozenset[str]
    default_language: str = "es"
    categories: tuple[rules.CategoryRuleSpec, ...] = ()
    acks_per_hour: int = 5
    response_hours: float = 24
    hard_hours: float = 48
    sla: SlaPolicy | None = None  # when set, due times follow its clock and per-priority targets
    agents: AgentPolicy | None = None  # when set, agents work by email (tokens, commands, relay)

    def due_times(self, priority: str, start: datetime) -> tuple[datetime, datetime]:
        if self.sla is not None:
            return self.sla.due_times(priority, start)
        return rules.sla_due_times(start, response_hours=self.response_hours, hard_hours=self.hard_hours)


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
    key_is_new: bool = False,
) -> IngestResult:
    """Store one parsed message and decide what it is: new ticket, follow-up, or neither.

    `bounce_of` is the outbox row a verified VERP bounce address names, if any. `key_is_new` says
    the caller has just seen that no receipt has this key (the unique key still guards a race).
    """
    existing = None if key_is_new else repo.receipt_by_key(session, key)
    if existing is not None:
        return IngestResult(action="already", ticket_id=existing[2], reason=existing[1])
    repo.put_blob(session, msg.raw_sha256, raw)
    result = _decide(session, msg, arrived_at, now, policy, bounce_of)
    receipt_id = insert_row(
        session,
        Receipt,
        {
            "mailbox": key.mailbox,
            "uidvalidity": key.uidvalidity,
            "uid": key.uid,
            "raw_sha256": msg.raw_sha256,
            "message_id": msg.message_id[:1000],
            "size": len(raw),
            "arrived_at": arrived_at,
            "received_at": now,
            "status": _RECEIPT_STATUS.get(result.action, result.action),
            "reason": result.reason[:2000],
            "ticket_id": result.ticket_id,
            "attempts": 0,
        },
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
    bounce_of: int | None = None,
) -> IngestResult:
    same = repo.find_same_message(session, msg.message_id, msg.raw_sha256)
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
    return _new_ticket(session, arrived_at, msg, now, policy, linked=decision)


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
    if decision.refused:
        logger.info("stranger did not join a ticket", extra={"action": "thread", "reason": decision.reason})
    return decision


def _new_ticket(
    session: Session,
    arrived_at: datetime,
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    *,
    linked: rules.ThreadDecision,
) -> IngestResult:
    text = f"{msg.subject}\n{msg.text}"
    category, priority = rules.categorise(text, policy.categories)
    response_due, hard_due = policy.due_times(priority, arrived_at)
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
        "cycle": 1,
        "cycle_started_at": arrived_at,
        "response_due_at": response_due,
        "hard_due_at": hard_due,
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
    outgoing = _acknowledgement(session, {"id": ticket_id, **facts}, msg, now, policy)
    if policy.agents is not None:
        # A detached copy of the row just inserted: what the notifications read, without a SELECT.
        ticket = Ticket(id=ticket_id, **values)  # type: ignore[arg-type]  # the columns' values, of mixed types
        outgoing += agent_service.notify_agents(session, ticket, msg, now, policy.agents, event="new")
    return IngestResult(action="ticketed", ticket_id=ticket_id, reason=linked.reason, outgoing=outgoing)


def _acknowledgement(
    session: Session, ticket: dict[str, object], msg: IncomingMessage, now: datetime, policy: IngestPolicy
) -> tuple[OutgoingEmail, ...]:
    ticket_id = int(ticket["id"])  # type: ignore[call-overload]
    recent = repo.count_outbox_since(session, kind="ack", recipient=msg.sender.email, since=now - timedelta(hours=1))
    refusal = rules.ack_refusal(
        msg,
        own_addresses=policy.own_addresses | {policy.helpdesk_address},
        acks_last_hour=recent,
        limit=policy.acks_per_hour,
        answers_robot=automatic_kind_among(session, [*msg.in_reply_to, *msg.references]),
    )
    if refusal:
        repo.add_event(session, ticket_id, now, "ack-suppressed", detail=refusal)
        return ()
    intent = OutgoingEmail(
        kind="ack",
        ticket_id=ticket_id,
        to=(msg.sender.email,),
        idempotency_key=f"ack:{ticket_id}",
        language=str(ticket["language"]),
        auto_submitted="auto-replied",
        in_reply_to=msg.message_id,
        references=(*msg.references[-10:], msg.message_id),
        context={
            "ticket": {k: ticket[k] for k in ("id", "subject", "status", "priority", "category", "assigned_agent")},
            "requester": {"name": ticket["requester_name"], "email": ticket["requester_email"]},
        },
    )
    return (intent,)


def _follow_up(
    session: Session, ticket_id: int, arrived_at: datetime, msg: IncomingMessage, now: datetime, policy: IngestPolicy
) -> IngestResult:
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    if rules.reopens(ticket.status):
        ticket.status = "open"
        ticket.cycle += 1
        ticket.cycle_started_at = arrived_at
        ticket.response_due_at, ticket.hard_due_at = policy.due_times(ticket.priority, arrived_at)
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


def quarantine(
    session: Session, *, key: ReceiptKey, raw: bytes, reason: str, arrived_at: datetime, now: datetime
) -> Receipt:
    """Keep a message we cannot process: raw bytes stored, visible in `tickets quarantine`."""
    existing = repo.get_receipt(session, key)
    if existing is not None:
        return existing
    sha = hashlib.sha256(raw).hexdigest()
    repo.put_blob(session, sha, raw)
    receipt = Receipt(
        mailbox=key.mailbox,
        uidvalidity=key.uidvalidity,
        uid=key.uid,
        raw_sha256=sha,
        size=len(raw),
        arrived_at=arrived_at,
        received_at=now,
        status="quarantined",
        reason=reason[:2000],
    )
    session.add(receipt)
    session.flush()
    return receipt
