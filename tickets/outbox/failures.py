"""A permanent delivery failure shown on its ticket (B22): one event, and a notice to the ticket's
agent (the supervisors when it has none), written in the transaction that records the outbox row
as `failed`. A failure notice that fails is shown on its ticket but told to nobody (no loop)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Connection
from sqlmodel import Session

from tickets import threads
from tickets.mail_context import DeliveryFailedContext, requester_of, ticket_view
from tickets.models import Ticket
from tickets.values import OutgoingEmail

EVENT_KIND = "delivery_failed"
DELAY_EVENT_KIND = "delivery_delayed"  # the first temporary refusal of a row (B20): said once
NOTICE_KIND = "delivery_failed"  # the template of the notice


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFailure:
    """What a failed outbox row tells its ticket: which mail, to whom, and the server's answer."""

    outbox_id: int
    ticket_id: int
    kind: str
    recipients: tuple[str, ...]
    reply: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticePolicy:
    """Who is told when a ticket has no agent, and in which language."""

    supervisors: tuple[str, ...]
    language: str = "es"


# The port the notices go through: tickets.outbox.queries.Queue's shape (that module imports this one).
NoticeQueue = Callable[[Session, OutgoingEmail, datetime], None]


class FailedMail(Protocol):
    """What delivery_failure reads of a claimed row (tickets.outbox.queries.ClaimedMail)."""

    @property
    def id(self) -> int: ...
    @property
    def ticket_id(self) -> int | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def recipients(self) -> tuple[str, ...]: ...


def delivery_failure(mail: FailedMail, results: dict[str, tuple[int, str]], reply: str) -> DeliveryFailure | None:
    """What the ticket is told of a row given up: the recipients refused and the server's answer
    (None for mail of no ticket)."""
    if mail.ticket_id is None:
        return None
    refused = tuple(r for r, (code, _) in results.items() if code >= 400) or mail.recipients
    return DeliveryFailure(outbox_id=mail.id, ticket_id=mail.ticket_id, kind=mail.kind, recipients=refused, reply=reply)


def delay_detail(delay: DeliveryFailure) -> str:
    """The event's line: `ack to ana@example.org delayed (outbox 7), retrying: 451 4.3.0 ...`."""
    to = ", ".join(delay.recipients) or "?"
    return f"{delay.kind} to {to} delayed (outbox {delay.outbox_id}), retrying: {delay.reply}"[:2000]


def failure_detail(failure: DeliveryFailure) -> str:
    """The event's line: `ack to ana@example.org not delivered (outbox 7): 550 5.1.1 ...`."""
    to = ", ".join(failure.recipients) or "?"
    return f"{failure.kind} to {to} not delivered (outbox {failure.outbox_id}): {failure.reply}"[:2000]


def failure_notices(ticket: Ticket, failure: DeliveryFailure, policy: NoticePolicy) -> tuple[OutgoingEmail, ...]:
    """The notices of one failure: to the ticket's agent, or the supervisors; none for a notice."""
    if failure.kind == NOTICE_KIND:
        return ()
    to = (ticket.assigned_agent,) if ticket.assigned_agent else policy.supervisors
    context = DeliveryFailedContext(
        ticket=ticket_view(ticket),
        requester=requester_of(ticket),
        mail_kind=failure.kind,
        recipients=failure.recipients,
        reply=failure.reply[:2000],
    )
    return tuple(
        OutgoingEmail(
            kind=NOTICE_KIND,
            ticket_id=failure.ticket_id,
            to=(recipient,),
            idempotency_key=f"{NOTICE_KIND}:{failure.outbox_id}:{recipient}"[:300],
            language=policy.language,
            auto_submitted="auto-generated",
            context=context,
        )
        for recipient in sorted({r.lower() for r in to if r})
    )


def note_failures(
    connection: Connection,
    failures: Sequence[DeliveryFailure],
    now: datetime,
    *,
    queue: NoticeQueue | None = None,
    policy: NoticePolicy | None = None,
    delays: Sequence[DeliveryFailure] = (),
) -> None:
    """Each failure as an event on its ticket, and its notices queued; each first delay as an
    event (the agent sees "delayed" on the ticket; nobody is mailed); in the caller's transaction."""
    if not failures and not delays:
        return
    with Session(bind=connection) as session:
        for delay in delays:
            threads.add_event(session, delay.ticket_id, now, DELAY_EVENT_KIND, detail=delay_detail(delay))
        for failure in failures:
            threads.add_event(session, failure.ticket_id, now, EVENT_KIND, detail=failure_detail(failure))
            ticket = session.get(Ticket, failure.ticket_id)
            if queue is None or policy is None or ticket is None:
                continue
            for intent in failure_notices(ticket, failure, policy):
                queue(session, intent, now)
        session.flush()
