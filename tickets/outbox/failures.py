"""A permanent delivery failure shown on its ticket (B22): one event, written in the transaction
that records the outbox row as `failed`, so the agent sees on the ticket what the server said."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection
from sqlmodel import Session

from tickets import threads

EVENT_KIND = "delivery_failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFailure:
    """What a failed outbox row tells its ticket: which mail, to whom, and the server's answer."""

    outbox_id: int
    ticket_id: int
    kind: str
    recipients: tuple[str, ...]
    reply: str


def failure_detail(failure: DeliveryFailure) -> str:
    """The event's line: `ack to ana@example.org not delivered (outbox 7): 550 5.1.1 ...`."""
    to = ", ".join(failure.recipients) or "?"
    return f"{failure.kind} to {to} not delivered (outbox {failure.outbox_id}): {failure.reply}"[:2000]


def note_failures(connection: Connection, failures: Sequence[DeliveryFailure], now: datetime) -> None:
    """One `delivery_failed` event per failure on its ticket, in the caller's transaction."""
    if not failures:
        return
    with Session(bind=connection) as session:
        for failure in failures:
            threads.add_event(session, failure.ticket_id, now, EVENT_KIND, detail=failure_detail(failure))
        session.flush()
