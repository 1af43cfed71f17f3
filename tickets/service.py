"""Use cases. Each takes the session and `now`; the caller's unit of work commits."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from tickets import repository as repo
from tickets import rules
from tickets.models import AttachmentRow, Message, Receipt, Ticket
from tickets.values import IncomingMessage, IngestResult, OutgoingEmail, ReceiptKey

logger = logging.getLogger(__name__)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


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


def ingest(
    session: Session,
    *,
    key: ReceiptKey,
    raw: bytes,
    msg: IncomingMessage,
    arrived_at: datetime,
    now: datetime,
    policy: IngestPolicy,
) -> IngestResult:
    """Store one parsed message and decide what it is: new ticket, follow-up, or neither."""
    existing = repo.get_receipt(session, key)
    if existing is not None:
        return IngestResult(action="already", ticket_id=existing.ticket_id, reason=existing.status)
    repo.put_blob(session, msg.raw_sha256, raw)
    receipt = Receipt(
        mailbox=key.mailbox,
        uidvalidity=key.uidvalidity,
        uid=key.uid,
        raw_sha256=msg.raw_sha256,
        message_id=msg.message_id[:1000],
        size=len(raw),
        arrived_at=arrived_at,
        received_at=now,
    )
    result = _decide(session, receipt, msg, now, policy)
    receipt.status = _RECEIPT_STATUS.get(result.action, result.action)
    receipt.reason = result.reason
    receipt.ticket_id = result.ticket_id
    session.add(receipt)
    session.flush()
    if result.action in ("ticketed", "followup", "attached"):
        _store_message(session, receipt, msg, result.ticket_id, kind=_kind_of(msg))
    return result


_RECEIPT_STATUS = {"followup": "ticketed", "attached": "ticketed"}


def _kind_of(msg: IncomingMessage) -> str:
    return {"auto-reply": "auto", "bulk": "auto", "bounce": "bounce"}.get(msg.auto, "user")


def _decide(
    session: Session, receipt: Receipt, msg: IncomingMessage, now: datetime, policy: IngestPolicy
) -> IngestResult:
    same = repo.find_same_message(session, msg.message_id, msg.raw_sha256)
    if same is not None:
        return IngestResult(action="duplicate", ticket_id=same.ticket_id, reason=f"same message as receipt {same.id}")
    if msg.from_count != 1 or not msg.sender.email:
        return IngestResult(action="quarantined", reason=f"no single sender address (From has {msg.from_count})")
    if msg.auto in ("loop", "own"):
        return IngestResult(action="ignored", reason=f"{msg.auto}: {msg.auto_reason}")
    if msg.auto == "bounce":
        return _bounce(session, msg, now)
    decision = _thread(session, msg)
    if msg.auto:
        if decision.action == "join" and decision.ticket_id is not None:
            return IngestResult(
                action="attached", ticket_id=decision.ticket_id, reason=f"{msg.auto}: {msg.auto_reason}"
            )
        return IngestResult(action="ignored", reason=f"{msg.auto}: {msg.auto_reason}")
    if decision.action == "join" and decision.ticket_id is not None:
        return _follow_up(session, decision.ticket_id, receipt, msg, now)
    return _new_ticket(session, receipt, msg, now, policy, linked=decision)


def _thread(session: Session, msg: IncomingMessage) -> rules.ThreadDecision:
    by_headers = repo.tickets_by_message_ids(session, [*msg.references, *msg.in_reply_to])
    by_subject = list(rules.subject_ticket_refs(msg.subject))
    decision = rules.decide_thread(
        msg,
        by_headers=repo.ticket_facts(session, by_headers),
        by_subject=repo.ticket_facts(session, by_subject),
    )
    if decision.reason and decision.action == "new":
        logger.info("stranger did not join a ticket", extra={"action": "thread", "reason": decision.reason})
    return decision


def _bounce(session: Session, msg: IncomingMessage, now: datetime) -> IngestResult:
    """A bounce of our own mail is attached to its ticket; it never gets an answer."""
    ticket_ids = repo.tickets_by_message_ids(session, [*msg.references, *msg.in_reply_to])
    if not ticket_ids:
        return IngestResult(action="ignored", reason=f"bounce ({msg.bounce_status or 'unknown'}) of no known ticket")
    ticket = session.get(Ticket, ticket_ids[0])
    assert ticket is not None
    if msg.bounce_status == "failed" and ticket.requester_email in msg.bounce_recipients:
        ticket.requester_undeliverable = True
        session.add(ticket)
    repo.add_event(
        session, ticket.id or 0, now, "bounce", detail=f"{msg.bounce_status}: {', '.join(msg.bounce_recipients)}"
    )
    return IngestResult(action="attached", ticket_id=ticket.id, reason=f"bounce {msg.bounce_status}")


def _new_ticket(
    session: Session,
    receipt: Receipt,
    msg: IncomingMessage,
    now: datetime,
    policy: IngestPolicy,
    *,
    linked: rules.ThreadDecision,
) -> IngestResult:
    text = f"{msg.subject}\n{msg.text}"
    category, priority = rules.categorise(text, policy.categories)
    response_due, hard_due = rules.sla_due_times(
        receipt.arrived_at, response_hours=policy.response_hours, hard_hours=policy.hard_hours
    )
    ticket = Ticket(
        requester_email=msg.sender.email,
        requester_name=msg.sender.name[:500],
        subject=msg.subject,
        language=rules.detect_language(text, policy.default_language),
        category=category,
        priority=priority,
        created_at=receipt.arrived_at,
        updated_at=now,
        cycle_started_at=receipt.arrived_at,
        response_due_at=response_due,
        hard_due_at=hard_due,
        linked_ticket_id=linked.ticket_id if linked.action == "new-linked" else None,
    )
    session.add(ticket)
    session.flush()
    assert ticket.id is not None
    repo.add_participant(session, ticket.id, msg.sender.email, "requester")
    for cc in msg.cc:
        if cc.email not in policy.own_addresses:
            repo.add_participant(session, ticket.id, cc.email, "cc")
    detail = f"from {msg.sender.email}; category {category}; priority {priority}"
    if ticket.linked_ticket_id:
        detail += f"; follows closed ticket #{ticket.linked_ticket_id}"
    repo.add_event(session, ticket.id, now, "created", actor=msg.sender.email, detail=detail)
    outgoing = _acknowledgement(session, ticket, msg, now, policy)
    return IngestResult(action="ticketed", ticket_id=ticket.id, reason=linked.reason, outgoing=outgoing)


def _acknowledgement(
    session: Session, ticket: Ticket, msg: IncomingMessage, now: datetime, policy: IngestPolicy
) -> tuple[OutgoingEmail, ...]:
    recent = repo.count_outbox_since(session, kind="ack", recipient=msg.sender.email, since=now - timedelta(hours=1))
    refusal = rules.ack_refusal(
        msg,
        own_addresses=policy.own_addresses | {policy.helpdesk_address},
        acks_last_hour=recent,
        limit=policy.acks_per_hour,
    )
    assert ticket.id is not None
    if refusal:
        repo.add_event(session, ticket.id, now, "ack-suppressed", detail=refusal)
        return ()
    intent = OutgoingEmail(
        kind="ack",
        ticket_id=ticket.id,
        to=(msg.sender.email,),
        idempotency_key=f"ack:{ticket.id}",
        language=ticket.language,
        auto_submitted="auto-replied",
        in_reply_to=msg.message_id,
        references=(*msg.references[-10:], msg.message_id),
        context={
            "ticket": {
                "id": ticket.id,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "category": ticket.category,
                "assigned_agent": ticket.assigned_agent,
            },
            "requester": {"name": ticket.requester_name, "email": ticket.requester_email},
        },
    )
    return (intent,)


def _follow_up(session: Session, ticket_id: int, receipt: Receipt, msg: IncomingMessage, now: datetime) -> IngestResult:
    ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    if rules.reopens(ticket.status):
        ticket.status = "open"
        ticket.cycle += 1
        ticket.cycle_started_at = receipt.arrived_at
        ticket.response_due_at, ticket.hard_due_at = rules.sla_due_times(receipt.arrived_at)
        repo.add_event(session, ticket_id, now, "reopened", actor=msg.sender.email, detail=f"cycle {ticket.cycle}")
    ticket.updated_at = now
    session.add(ticket)
    repo.add_event(session, ticket_id, now, "user-message", actor=msg.sender.email)
    return IngestResult(action="followup", ticket_id=ticket_id)


def _store_message(
    session: Session, receipt: Receipt, msg: IncomingMessage, ticket_id: int | None, *, kind: str
) -> None:
    assert ticket_id is not None
    row = Message(
        ticket_id=ticket_id,
        receipt_id=receipt.id,
        direction="in",
        kind=kind,
        from_addr=msg.sender.email,
        from_name=msg.sender.name[:500],
        to_addrs=", ".join(a.email for a in msg.to if a.email),
        cc_addrs=", ".join(a.email for a in msg.cc if a.email),
        subject=msg.subject,
        message_id=msg.message_id[:1000],
        text=msg.text,
        html=msg.html,
        created_at=receipt.arrived_at,
    )
    session.add(row)
    session.flush()
    for attachment in msg.attachments:
        sha = hashlib.sha256(attachment.data).hexdigest()
        repo.put_blob(session, sha, attachment.data)
        session.add(
            AttachmentRow(
                message_id=row.id or 0,
                filename=attachment.filename[:255],
                content_type=attachment.content_type[:255],
                size=len(attachment.data),
                sha256=sha,
            )
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


def record_outgoing(
    session: Session, *, intent: OutgoingEmail, message_id: str, subject: str, text: str, sender: str, now: datetime
) -> None:
    """Show a queued outgoing message in its ticket's thread and history (same transaction)."""
    if intent.ticket_id is None:
        return
    session.add(
        Message(
            ticket_id=intent.ticket_id,
            direction="out",
            kind=intent.kind,
            from_addr=sender,
            to_addrs=", ".join(intent.to),
            subject=subject,
            message_id=message_id,
            text=text,
            created_at=now,
        )
    )
    repo.add_event(session, intent.ticket_id, now, f"queued-{intent.kind}", detail=", ".join(intent.to))
