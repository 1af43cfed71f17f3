"""A new ticket's acknowledgement (RFC 3834's rules and the per-sender cap) and what it says."""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from tickets import repository as repo
from tickets import threads
from tickets.faq import suggest as faq_suggest
from tickets.ingest import rules
from tickets.ingest.batch import IngestBatch
from tickets.mail_context import AckContext, FaqLink, Person, TicketView
from tickets.sla.policy import Cycle, SlaPolicy
from tickets.values import IncomingMessage, OutgoingEmail


def recent_acks(
    session: Session, sender: str, now: datetime, batch: IngestBatch | None, *, kinds: Sequence[str] = ("ack",)
) -> int:
    """What the per-sender hourly cap counts: the mail of `kinds` queued to `sender` in the hour
    before `now`, plus the acknowledgements to them that `batch` holds and has not written yet."""
    since = now - timedelta(hours=1)
    # The batch read the acknowledgements queued to its senders at its start (acks only).
    queued = batch.queued_acks.get(sender) if batch is not None and tuple(kinds) == ("ack",) else None
    if queued is None:
        queued = sum(repo.count_outbox_since(session, kind=kind, recipient=sender, since=since) for kind in kinds)
    return queued + (batch.acks[sender] if batch is not None else 0)


def acknowledgement(
    session: Session,
    context: AckContext,
    msg: IncomingMessage,
    now: datetime,
    *,
    language: str,
    own: frozenset[str],
    limit: int,
    batch: IngestBatch | None,
) -> tuple[OutgoingEmail, ...]:
    """The acknowledgement of a new ticket, or none (recorded as `ack-suppressed`, with why)."""
    ticket_id = context.ticket.id
    recent = recent_acks(session, msg.sender.email, now, batch)
    refusal = rules.ack_refusal(
        msg,
        own_addresses=own,
        acks_last_hour=recent,
        limit=limit,
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


def ack_context(
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
