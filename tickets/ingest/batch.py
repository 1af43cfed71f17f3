"""What a batch of messages stored in one transaction keeps until its end."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
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
    # Acknowledgements already in the outbox for the senders this batch's From headers name (read
    # once at its start, see `queued_acks`); a sender not among them is counted on its own.
    queued_acks: dict[str, int] = field(default_factory=dict)

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


def fetch_queued_acks(session: Session, raws: list[bytes], since: datetime) -> dict[str, int]:
    """Acknowledgements queued since `since` to each address these messages' From headers seem to
    hold, zeros included: one query for a batch instead of one per new ticket."""
    senders = set().union(*map(sniff_from_addresses, raws)) if raws else set()
    return {sender: 0 for sender in senders} | repo.count_outbox_since_by_recipient(
        session, kind="ack", recipients=sorted(senders), since=since
    )
