"""The mail log: every received message, whatever became of it (queries over the spool)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlmodel import Session

from tickets.ingest.spool import ReceiptStatus
from tickets.models import Blob, Event, Receipt

_R: Any = Receipt.__table__.c  # type: ignore[attr-defined]
STATUSES = tuple(s.value for s in ReceiptStatus)


@dataclass(frozen=True, slots=True, kw_only=True)
class MailFilter:
    status: str = ""
    sender: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _where(f: MailFilter) -> ColumnElement[bool]:
    clauses = []
    if f.status:
        clauses.append(_R.status == f.status)
    if f.sender:
        clauses.append(_R.sender == f.sender.strip().lower())
    if f.since is not None:
        clauses.append(_R.arrived_at >= f.since)
    if f.until is not None:
        clauses.append(_R.arrived_at < f.until)
    return and_(True, *clauses)


def list_mail(session: Session, f: MailFilter, *, limit: int) -> tuple[list[Receipt], int]:
    """The newest receipts first (at most `limit`; 0 = all) and how many match in all."""
    total = int(session.connection().execute(select(func.count()).select_from(Receipt).where(_where(f))).scalar() or 0)
    query = select(Receipt).where(_where(f)).order_by(_R.id.desc())
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query)), total


def raw_of(session: Session, receipt: Receipt) -> bytes:
    blob = session.get(Blob, receipt.raw_sha256)
    return b"" if blob is None else blob.data


def raws_of(session: Session, receipts: Sequence[Receipt]) -> dict[str, bytes]:
    """The bytes of these receipts, by SHA-256 (one query)."""
    shas = list({r.raw_sha256 for r in receipts})
    if not shas:
        return {}
    blob = Blob.__table__.c  # type: ignore[attr-defined]
    rows = session.connection().execute(select(blob.sha256, blob.data).where(blob.sha256.in_(shas)))
    return {sha: data for sha, data in rows}


def events_caused(session: Session, receipt: Receipt) -> list[Event]:
    """The ticket events written when this message was processed (same ticket, same moment)."""
    if receipt.ticket_id is None or receipt.processed_at is None:
        return []
    event = Event.__table__.c  # type: ignore[attr-defined]
    query = select(Event).where(event.ticket_id == receipt.ticket_id, event.at == receipt.processed_at)
    return list(session.scalars(query.order_by(event.id)))
