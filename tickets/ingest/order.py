"""Several workers claim the spool side by side, so a reply may be claimed while the message it
answers is still waiting or being processed by another worker: it would open a ticket of its own.
Such a reply is handed back to the spool for a moment (no attempt counted) and taken again once
the message it answers has been processed (one worker taking the spool in order never needs it).
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlmodel import Session

from tickets.ingest.spool import ReceiptStatus, Spooled
from tickets.models import Receipt

_RT: Any = Receipt.__table__  # type: ignore[attr-defined]
_R = _RT.c
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_REFERENCES = re.compile(rb"^(?:in-reply-to|references):[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_MESSAGE_ID = re.compile(rb"<[^<>\s]{1,998}>")
MAX_REFERENCES = 20  # the last ones of References: the nearest ancestors


def sniff_references(raw: bytes) -> list[str]:
    """The Message-IDs a message's In-Reply-To and References name, cheaply (header section only)."""
    end = _HEADER_END.search(raw, 0, 256 * 1024)
    found: list[str] = []
    for header in _REFERENCES.finditer(raw, 0, end.start() if end else min(len(raw), 256 * 1024)):
        found.extend(m.decode("ascii", "replace") for m in _MESSAGE_ID.findall(header.group(1)))
    return found[-MAX_REFERENCES:]


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
