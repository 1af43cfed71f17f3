"""What a batch of messages stored in one transaction keeps until its end."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from tickets import repository as repo
from tickets.ingest import spool
from tickets.ingest.sniff import sniff_from_addresses, sniff_message_id
from tickets.models import Receipt
from tickets.threads import ThreadBuffer


@dataclass(slots=True)
class IngestBatch:
    """What a batch stored in one transaction holds until its end, passed by the caller: the
    acknowledgements decided and not in the outbox yet (the per-sender cap counts them beside those
    already queued), the thread rows (events, participants, messages) waiting to go in together,
    and the receipts' decisions."""

    acks: Counter[str] = field(default_factory=Counter)
    rows: ThreadBuffer = field(default_factory=ThreadBuffer)
    # The receipts' decisions, written at the batch's end: the duplicates among them are told
    # by `seen` (Message-ID, SHA-256 -> receipt, ticket) meanwhile.
    outcomes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    seen: dict[tuple[str, str], tuple[int, int | None]] = field(default_factory=dict)
    # Message-IDs of this batch that no processed receipt has: a message with one of them is no
    # duplicate of an earlier one, and is not looked up one by one (see `unseen_message_ids`).
    unseen: frozenset[str] = frozenset()
    # Read once at its start for the senders its From headers seem to name (`read_ahead`):
    # the acknowledgements already queued to each (a sender not among them is counted on its own),
    # and those who have no ticket yet (a new ticket of theirs has no history to look up; their
    # first ticket of the batch takes them out).
    queued_acks: dict[str, int] = field(default_factory=dict)
    ticketless: set[str] = field(default_factory=set)

    def finish(self, session: Session) -> None:
        """Write what waits: thread rows, then the receipts' decisions."""
        self.rows.flush(session)
        spool.record_outcomes(session, self.outcomes)
        self.outcomes = []


def unseen_message_ids(session: Session, raws: list[bytes]) -> frozenset[str]:
    """The Message-IDs of these messages (read from their bytes) that no processed receipt has:
    one query for a batch instead of one per message."""
    ids = {mid for mid in map(sniff_message_id, raws) if mid}
    if not ids:
        return frozenset()
    column = Receipt.__table__.c  # type: ignore[attr-defined]
    query = select(column.message_id).where(column.message_id.in_(sorted(ids)), column.status.not_in(spool.WAITING))
    return frozenset(ids - set(session.connection().execute(query).scalars()))


def read_ahead(session: Session, batch: IngestBatch, raws: list[bytes], now: datetime) -> None:
    """What the batch's new tickets would each ask of their sender, asked once for the batch:
    acknowledgements queued in the last hour, and whether they have any ticket at all."""
    senders = sorted(set().union(*map(sniff_from_addresses, raws))) if raws else []
    since = now - timedelta(hours=1)
    queued = repo.count_outbox_since_by_recipient(session, kind="ack", recipients=senders, since=since)
    batch.queued_acks = {sender: 0 for sender in senders} | queued
    batch.ticketless = set(senders) - repo.requesters_with_tickets(session, senders)
