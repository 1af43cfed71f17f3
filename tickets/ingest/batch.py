"""What a batch of messages stored in one transaction keeps until its end."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from tickets.ingest import spool
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

    def finish(self, session: Session) -> None:
        """Write what waits: thread rows, then the receipts' decisions."""
        self.rows.flush(session)
        spool.record_outcomes(session, self.outcomes)
        self.outcomes = []

