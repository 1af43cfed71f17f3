"""Several workers claim the spool side by side, so a reply may be claimed while the message it
answers is still waiting or being processed by another worker: it would open a ticket of its own.
Such a reply is handed back to the spool for a moment (no attempt counted) and taken again once
the message it answers has been processed (one worker taking the spool in order never needs it).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlmodel import Session

from tickets.ingest.sniff import sniff_references
from tickets.ingest.spool import ReceiptStatus, Spooled
from tickets.models import Receipt

_RT: Any = Receipt.__table__  # type: ignore[attr-defined]
_R = _RT.c


def early_replies(session: Session, claimed: Sequence[Spooled]) -> list[int]:
    """The claimed receipts that answer a message still waiting in the spool ahead of them, outside
    this claim (a message of the same claim is processed before them, in order)."""
    refs = {r.id: sniff_references(r.raw) for r in claimed}
    wanted = sorted({m for ids in refs.values() for m in ids})
    if not wanted:
        return []
    ours = {r.id for r in claimed}
    query = select(_R.id, _R.message_id).where(_R.message_id.in_(wanted), _R.status == ReceiptStatus.RECEIVED)
    first: dict[str, int] = {}
    for row in session.connection().execute(query):
        if row.id not in ours:
            first[row.message_id] = min(row.id, first.get(row.message_id, row.id))
    return [r.id for r in claimed if any(first.get(m, r.id) < r.id for m in refs[r.id])]


def hold_back(session: Session, receipt_ids: Sequence[int], *, holder: str, retry_at: datetime) -> None:
    """Undo these claims and their attempt; the receipts are due again at `retry_at`."""
    if receipt_ids:
        session.connection().execute(
            update(_RT)
            .where(_R.id.in_(list(receipt_ids)), _R.claimed_by == holder)
            .values(
                attempts=case((_R.attempts > 0, _R.attempts - 1), else_=0),
                claimed_by="",
                claimed_until=None,
                next_attempt_at=retry_at,
            )
        )
