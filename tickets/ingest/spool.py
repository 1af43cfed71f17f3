"""The spool, and the bookkeeping of each mailbox: the only module that writes receipts.

Every source (IMAP, Maildir, the MTA pipe) first commits a message's raw bytes and its receipt
(status `received`) here, in one short transaction, and only then marks the message on the
server or exits 0 to the MTA (invariant 1). Processing then claims spooled receipts, and stores
their outcome (the receipt's new status) in the transaction that stores the ticket. A receipt
that failed waits here with a backoff; one that keeps failing for a reason of its own is
quarantined; nothing leaves the spool but by a decision recorded on its receipt.
"""

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, case, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session

from tickets.ingest.sniff import sniff_message_id
from tickets.inserts import insert_ignore_statement
from tickets.models import Blob, Receipt
from tickets.values import ReceiptKey

_RT: Any = Receipt.__table__  # type: ignore[attr-defined]
_BT: Any = Blob.__table__  # type: ignore[attr-defined]
_R = _RT.c
CHUNK = 500  # keys per IN (...) query
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)


class ReceiptStatus(StrEnum):
    """Where a received message stands."""

    RECEIVED = "received"  # spooled, not processed yet
    TICKETED = "ticketed"  # a new ticket
    FOLLOWUP = "followup"  # joined its ticket (the requester's or a participant's message, an auto-reply)
    AGENT = "agent"  # an agent's reply or commands (or one refused for want of proof: see its reason)
    IGNORED = "ignored"  # auto-reply, bounce, list, our own, a loop: recorded, nothing answered
    DUPLICATE = "duplicate"  # the same message (Message-ID and bytes) under another key
    FAILED = "failed"  # processing failed; retried at `next_attempt_at`
    QUARANTINED = "quarantined"  # refused (too large, unreadable, poison): bytes kept, can be released


PENDING = (ReceiptStatus.RECEIVED, ReceiptStatus.FAILED)
WAITING = (*PENDING, ReceiptStatus.QUARANTINED)  # not processed: a later copy is no duplicate of it


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """One message as a source handed it over: bytes (empty when too large to download)."""

    uid: int
    raw: bytes
    arrived_at: datetime
    size: int
    refused: str = ""  # set: spooled as quarantined at once (e.g. "too large: ...")
    header: bytes = b""  # of a message too large to download: its header alone


@dataclass(frozen=True, slots=True, kw_only=True)
class Spooled:
    """A receipt as it stands, with the bytes when the caller has them (or read them back)."""

    id: int
    key: ReceiptKey
    status: str
    attempts: int
    arrived_at: datetime
    ticket_id: int | None = None
    raw: bytes = b""
    fresh: bool = False  # committed by this call: this process holds it and processes it now
    copied_to: str = ""  # the folder its message was copied to (no MOVE), before the source deleted it


def spool(
    session: Session,
    *,
    mailbox: str,
    uidvalidity: int,
    messages: Sequence[Incoming],
    now: datetime,
    holder: str,
    lease: timedelta,
) -> list[Spooled]:
    """Commit-ready: bytes and a receipt for each message not spooled yet (same key: kept as it
    is). New receipts are claimed by `holder` at once (attempt 1), since it processes them next."""
    conn = session.connection()
    dialect = conn.dialect.name
    blobs = {hashlib.sha256(m.raw).hexdigest(): m.raw for m in messages}
    if blobs:
        blob_rows = [{"sha256": sha, "size": len(data), "data": data} for sha, data in blobs.items()]
        conn.execute(insert_ignore_statement(Blob, dialect), blob_rows)
    rows = [_receipt_row(mailbox, uidvalidity, m, now, holder, lease) for m in messages]
    new_receipts = insert_ignore_statement(Receipt, dialect).returning(_R.uid)
    fresh = set(conn.execute(new_receipts, rows).scalars()) if rows else set()
    raw_of = {m.uid: m.raw for m in messages}
    found = receipts(session, mailbox, uidvalidity, [m.uid for m in messages])
    return [
        Spooled(
            id=r.id,
            key=r.key,
            status=r.status,
            attempts=r.attempts,
            arrived_at=r.arrived_at,
            ticket_id=r.ticket_id,
            raw=raw_of[r.key.uid],
            fresh=r.key.uid in fresh,
        )
        for r in found
    ]


def _receipt_row(
    mailbox: str, uidvalidity: int, m: Incoming, now: datetime, holder: str, lease: timedelta
) -> dict[str, Any]:
    claimed = bool(holder) and not m.refused
    return {
        "mailbox": mailbox,
        "uidvalidity": uidvalidity,
        "uid": m.uid,
        "raw_sha256": hashlib.sha256(m.raw).hexdigest(),
        "message_id": sniff_message_id(m.raw or m.header),
        "size": m.size,
        "arrived_at": m.arrived_at,
        "received_at": now,
        "status": ReceiptStatus.QUARANTINED if m.refused else ReceiptStatus.RECEIVED,
        "reason": m.refused[:2000],
        "ticket_id": None,
        "attempts": 1 if claimed else 0,
        "next_attempt_at": None,
        "claimed_by": holder if claimed else "",
        "claimed_until": now + lease if claimed else None,
    }


def receipts(session: Session, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> list[Spooled]:
    """The receipts among these UIDs, in the order of `uids` (without their bytes)."""
    found: dict[int, Spooled] = {}
    for start in range(0, len(uids), CHUNK):
        query = select(_R.id, _R.uid, _R.status, _R.attempts, _R.arrived_at, _R.ticket_id, _R.copied_to).where(
            _R.mailbox == mailbox, _R.uidvalidity == uidvalidity, _R.uid.in_(list(uids[start : start + CHUNK]))
        )
        for row in session.connection().execute(query):
            key = ReceiptKey(mailbox=mailbox, uidvalidity=uidvalidity, uid=row.uid)
            found[row.uid] = Spooled(
                id=row.id,
                key=key,
                status=row.status,
                attempts=row.attempts,
                arrived_at=row.arrived_at,
                ticket_id=row.ticket_id,
                copied_to=row.copied_to,
            )
    return [found[u] for u in uids if u in found]


def record_copied(session: Session, mailbox: str, uidvalidity: int, uids: Sequence[int], folder: str) -> None:
    """The source copied these messages to `folder` and has not deleted them yet: a later scan
    that finds them still there only deletes them (a second COPY would leave two copies)."""
    for start in range(0, len(uids), CHUNK):
        chunk = list(uids[start : start + CHUNK])
        where = (_R.mailbox == mailbox, _R.uidvalidity == uidvalidity, _R.uid.in_(chunk))
        session.connection().execute(update(_RT).where(*where).values(copied_to=folder[:200]))


def claim_due(
    session: Session, *, now: datetime, holder: str, lease: timedelta, limit: int, is_dead: Callable[[str], bool]
) -> list[Spooled]:
    """Take up to `limit` receipts waiting for processing, oldest first, with their bytes: new
    ones, failed ones whose retry is due, and ones whose holder's claim ran out or that died.
    Each claimed receipt counts one more attempt. Other workers skip rows locked here."""
    conn = session.connection()
    pending = _R.status.in_([s.value for s in PENDING])
    holders = conn.execute(select(_R.claimed_by).where(pending, _R.claimed_until > now).distinct()).scalars()
    free_holders = [h for h in holders if h and h != holder and is_dead(h)]
    waiting = (
        select(_R.id)
        .where(
            pending,
            or_(_R.next_attempt_at.is_(None), _R.next_attempt_at <= now),
            or_(_R.claimed_until.is_(None), _R.claimed_until <= now, _R.claimed_by.in_(free_holders)),
        )
        .order_by(_R.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(waiting).scalars())
    if not ids:
        return []
    session.connection().execute(
        update(_RT).where(_R.id.in_(ids)).values(attempts=_R.attempts + 1, claimed_by=holder, claimed_until=now + lease)
    )
    query = (
        select(_R.id, _R.mailbox, _R.uidvalidity, _R.uid, _R.status, _R.attempts, _R.arrived_at, _BT.c.data)
        .join(_BT, _BT.c.sha256 == _R.raw_sha256)
        .where(_R.id.in_(ids))
        .order_by(_R.id)
    )
    return [
        Spooled(
            id=row.id,
            key=ReceiptKey(mailbox=row.mailbox, uidvalidity=row.uidvalidity, uid=row.uid),
            status=row.status,
            attempts=row.attempts,
            arrived_at=row.arrived_at,
            raw=row.data,
        )
        for row in session.connection().execute(query)
    ]


def retry_at(attempts: int, now: datetime) -> datetime:
    """When a receipt whose processing failed `attempts` times is tried again (capped doubling)."""
    return now + min(RETRY_CAP, RETRY_BASE * 2 ** max(0, attempts - 1))


def record_outcome(session: Session, receipt_id: int, **decision: Any) -> None:
    """The receipt's decision (see `outcome`), in the transaction that stores its consequences."""
    record_outcomes(session, [(receipt_id, outcome(**decision))])


def outcome(
    *,
    status: str,
    reason: str = "",
    ticket_id: int | None = None,
    message_id: str | None = None,
    sender: tuple[str, str] | None = None,
    subject: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A receipt's decision as columns; with what the parsed message says of itself (sender
    address and name, subject) for the mail log."""
    values: dict[str, Any] = {"status": status, "reason": reason[:2000], "ticket_id": ticket_id, "processed_at": now}
    if message_id is not None:
        values["message_id"] = message_id[:1000]
    if sender is not None:
        values["sender"], values["sender_name"] = sender[0][:320], sender[1][:500]
    if subject is not None:
        values["subject"] = subject[:2000]
    return values


def record_outcomes(session: Session, outcomes: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Many receipts' decisions (as record_outcome's columns), one statement per set of columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for receipt_id, values in outcomes:
        groups.setdefault(tuple(values), []).append({"r_id": receipt_id, **{f"v_{k}": v for k, v in values.items()}})
    for columns, params in groups.items():
        session.connection().execute(_outcome_update(columns), params)


@functools.cache
def _outcome_update(columns: tuple[str, ...]) -> Any:
    """Built once per set of columns: processing records an outcome for every message."""
    return (
        update(_RT)
        .where(_R.id == bindparam("r_id"))
        .values(
            claimed_by="",
            claimed_until=None,
            next_attempt_at=None,
            **{column: bindparam(f"v_{column}", type_=_R[column].type) for column in columns},
        )
    )


def record_failure(session: Session, receipt_id: int, *, attempts: int, reason: str, now: datetime) -> None:
    """Processing this receipt failed (its own fault, as far as we can tell): retry it later."""
    session.connection().execute(
        update(_RT)
        .where(_R.id == receipt_id)
        .values(
            status=ReceiptStatus.FAILED,
            reason=reason[:2000],
            claimed_by="",
            claimed_until=None,
            next_attempt_at=retry_at(attempts, now),
        )
    )


def record_wait(session: Session, receipt_id: int, *, reason: str, retry_at: datetime) -> None:
    """Processing this receipt was held back by no fault of its own (an operator's template):
    it stays `received`, its attempt is not counted, and it is tried again at `retry_at`."""
    session.connection().execute(
        update(_RT)
        .where(_R.id == receipt_id)
        .values(
            reason=reason[:2000],
            attempts=case((_R.attempts > 0, _R.attempts - 1), else_=0),
            claimed_by="",
            claimed_until=None,
            next_attempt_at=retry_at,
        )
    )


def give_back(connection: Connection, receipt_ids: Sequence[int], *, holder: str) -> None:
    """Processing did not happen (the database or a setting failed, not the message): the claim
    and its attempt are undone, so the receipts are taken again at once, blamed for nothing."""
    if receipt_ids:
        connection.execute(
            update(_RT)
            .where(_R.id.in_(list(receipt_ids)), _R.claimed_by == holder, _R.status.in_([s.value for s in PENDING]))
            .values(attempts=case((_R.attempts > 0, _R.attempts - 1), else_=0), claimed_by="", claimed_until=None)
        )


def release(session: Session, receipt_ids: Sequence[int], *, now: datetime) -> list[int]:
    """Make quarantined or failed receipts due for processing now (after a fix); the ids released."""
    query = (
        update(_RT)
        .where(_R.id.in_(list(receipt_ids)), _R.status.in_([ReceiptStatus.QUARANTINED, ReceiptStatus.FAILED]))
        .values(status=ReceiptStatus.RECEIVED, attempts=0, next_attempt_at=None, claimed_by="", claimed_until=None)
        .returning(_R.id)
    )
    return list(session.connection().execute(query).scalars())


def same_message(session: Session, *, message_id: str, receipt_id: int) -> tuple[int, int | None] | None:
    """(id, ticket_id) of another receipt of the very same message (this Message-ID, the bytes
    of `receipt_id`) that was processed already: this one is then a duplicate."""
    params = {"mid": message_id, "me": receipt_id}
    row = session.connection().execute(_same_message(), params).first()
    return None if row is None else (row[0], row[1])


@functools.cache
def _same_message() -> Any:
    """Built once: processing asks this for every message."""
    return (
        select(_R.id, _R.ticket_id)
        .where(
            _R.message_id == bindparam("mid"),
            _R.raw_sha256 == select(_R.raw_sha256).where(_R.id == bindparam("me")).scalar_subquery(),
            _R.id != bindparam("me"),
            _R.status.not_in(WAITING),
        )
        .order_by(_R.id)
        .limit(1)
    )
