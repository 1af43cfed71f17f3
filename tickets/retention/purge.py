"""Purge: the raw bytes and attachments of tickets closed before a day go; tickets, messages (their
text), events and every figure of the monthly report stay. Run by `ventanilla purge` and, with
`[retention] raw_days` set, daily by the scheduler. Idempotent: a second run removes nothing."""

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlmodel import Session

from tickets import threads
from tickets.models import AttachmentRow, Blob, Message, Outbox, Receipt, Ticket
from tickets.retention.blobs import chunks, drop_attachments, empty_raws

_T: Any = Ticket.__table__.c  # type: ignore[attr-defined]
_M: Any = Message.__table__.c  # type: ignore[attr-defined]
_R: Any = Receipt.__table__.c  # type: ignore[attr-defined]
_B: Any = Blob.__table__.c  # type: ignore[attr-defined]
_O: Any = Outbox.__table__.c  # type: ignore[attr-defined]
_A: Any = AttachmentRow.__table__.c  # type: ignore[attr-defined]
SENT_OR_DONE = ("sent", "failed", "bounced", "suppressed")  # never a row a sender may still send


def closed_before(session: Session, before: datetime) -> list[int]:
    """Tickets closed whose last change is before `before` (a closed ticket changes no more)."""
    query = select(_T.id).where(_T.status == "closed", _T.updated_at < before).order_by(_T.id)
    return list(session.connection().execute(query).scalars())


def purge(session: Session, *, before: datetime, now: datetime) -> dict[str, int]:
    """Remove raw mail and attachments of tickets closed before `before`; what went, per kind."""
    if before.tzinfo is None:
        raise ValueError("purge needs an aware datetime")
    tickets = closed_before(session, before)
    counts = {"tickets": 0, "raw messages": 0, "attachments": 0, "attachment files": 0, "outgoing mails": 0}
    for chunk in chunks(tickets, 200):
        touched = _with_bytes(session, chunk)
        for kind, n in _purge_tickets(session, chunk).items():
            counts[kind] += n
        counts["tickets"] += len(touched)
        for ticket_id in touched:
            threads.add_event(session, ticket_id, now, "purged", detail="raw mail and attachments removed (retention)")
    return counts


def _with_bytes(session: Session, tickets: list[int]) -> set[int]:
    """Those of these tickets that still have raw mail, attachments or sent mail's bytes."""
    conn = session.connection()
    raw = select(_R.ticket_id).where(_R.ticket_id.in_(tickets), _R.raw_sha256 == _B.sha256, _B.size > 0)
    files = select(_M.ticket_id).where(_M.ticket_id.in_(tickets), _M.id == _A.message_id)
    sent = select(_O.ticket_id).where(_O.ticket_id.in_(tickets), _O.status.in_(SENT_OR_DONE), _O.raw != b"")
    return {t for query in (raw, files, sent) for t in conn.execute(query).scalars()}


def _purge_tickets(session: Session, tickets: list[int]) -> dict[str, int]:
    conn = session.connection()
    receipts = list(conn.execute(select(_R.id).where(_R.ticket_id.in_(tickets))).scalars())
    messages = list(conn.execute(select(_M.id).where(_M.ticket_id.in_(tickets))).scalars())
    raw = empty_raws(session, receipts)
    rows, files = drop_attachments(session, messages)
    outbox = update(Outbox.__table__).where(  # type: ignore[attr-defined]
        and_(_O.ticket_id.in_(tickets), _O.status.in_(SENT_OR_DONE), _O.raw != b"")
    )
    mails = int(conn.execute(outbox.values(raw=b"")).rowcount)
    return {
        "raw messages": raw,
        "attachments": rows,
        "attachment files": files,
        "outgoing mails": mails,
    }
