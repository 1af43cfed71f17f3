"""The outbox: queries on queued mail and the pure retry rule. Nothing here commits.

A claim is a lease: claimed rows get `next_attempt_at = now + lease`, so another worker (or
this one, after a crash) only picks them up again once the lease has run out.
"""

import functools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, update
from sqlalchemy import select as core_select  # more columns than sqlmodel.select is typed for
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from tickets.models import Outbox
from tickets.values import OutgoingEmail

BACKOFF_MINUTES = (1, 5, 15, 30, 60)  # then hourly
JITTER = 0.2  # +/- 20 %
MIN_ATTEMPTS_BEFORE_EXPIRY = 3
STATUSES = ("queued", "sent", "failed", "bounced", "suppressed")


class Queue(Protocol):
    """The port a use case's outgoing mail goes through: rendered and added to the outbox in the
    caller's transaction (the shell's OutgoingQueue; tests may record instead)."""

    def __call__(self, session: Session, intent: OutgoingEmail, now: datetime, /) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedMail:
    """A snapshot of one claimed outbox row, safe to use after its session closed."""

    id: int
    ticket_id: int | None
    kind: str
    message_id: str
    recipients: tuple[str, ...]
    raw: bytes
    attempts: int
    created_at: datetime
    results: dict[str, tuple[int, str]]


def split_recipients(value: str) -> tuple[str, ...]:
    return tuple(r.strip() for r in value.split(",") if r.strip())


def load_results(value: str) -> dict[str, tuple[int, str]]:
    """The per-recipient results stored as JSON `{rcpt: [code, reply]}`."""
    if not value:
        return {}
    return {rcpt: (int(code), str(reply)) for rcpt, (code, reply) in json.loads(value).items()}


def dump_results(results: dict[str, tuple[int, str]]) -> str:
    return json.dumps({k: [c, m] for k, (c, m) in sorted(results.items())}, ensure_ascii=False)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """How long to wait after `attempts` failures: 1, 5, 15, 30 min, then hourly, +/- jitter."""
    step = BACKOFF_MINUTES[min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1]
    factor = 1 + JITTER * (2 * (rng or random.Random()).random() - 1)
    return timedelta(minutes=step * factor)


def next_attempt(attempts: int, now: datetime, rng: random.Random | None = None) -> datetime:
    """When to try again after `attempts` failures (see `backoff`)."""
    return now + backoff(attempts, rng)


def is_expired(created_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """Whether mail queued at `created_at` is past its lifetime (RFC 5321 4.5.4.1)."""
    return now - created_at >= max_age


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one attempt at a claimed row ended: `sent`, `failed`, or `queued` again (a retry)."""

    outbox_id: int
    status: str
    reply: str
    results: dict[str, tuple[int, str]]
    sent_at: datetime | None = None  # set for `sent`
    next_attempt_at: datetime | None = None  # set for a retry (and `failed`: when it was given up)


@functools.cache
def _claim_statements(dialect: str) -> tuple[Any, Any]:
    """(due rows, lease them): built once, so a claim pays for no statement construction."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    c = table.c
    due = (
        core_select(c.id, c.ticket_id, c.kind, c.message_id, c.recipients, c.raw, c.attempts, c.created_at, c.results)
        .where(c.status == "queued", c.next_attempt_at <= bindparam("now", type_=c.next_attempt_at.type))
        # In the index's order (status, next_attempt_at): the scan stops after `limit` rows instead of
        # sorting every due row of a large backlog on each claim.
        .order_by(c.next_attempt_at, c.id)
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    lease = (
        update(table)
        .where(c.id.in_(bindparam("ids", expanding=True)))
        .values(next_attempt_at=bindparam("until", type_=c.next_attempt_at.type))
    )
    return due, lease


def claim_due(
    connection: Connection, now: datetime, limit: int, lease: timedelta = timedelta(minutes=10)
) -> list[ClaimedMail]:
    """Lease up to `limit` queued rows that are due, longest due first (SKIP LOCKED on PostgreSQL)."""
    due, lease_rows = _claim_statements(connection.dialect.name)
    rows = connection.execute(due, {"now": now, "limit": limit}).all()
    if rows:
        connection.execute(lease_rows, {"ids": [r.id for r in rows], "until": now + lease})
    return [
        ClaimedMail(
            id=r.id,
            ticket_id=r.ticket_id,
            kind=r.kind,
            message_id=r.message_id,
            recipients=split_recipients(r.recipients),
            raw=bytes(r.raw),
            attempts=r.attempts,
            created_at=r.created_at,
            results=load_results(r.results),
        )
        for r in rows
    ]


@functools.cache
def _outcome_update() -> Any:
    table = Outbox.__table__  # type: ignore[attr-defined]
    when = table.c.sent_at.type
    return (
        update(table)
        # Only a row still queued: a bounce recorded meanwhile is never turned back into "sent".
        .where(table.c.id == bindparam("o_id"), table.c.status == "queued")
        .values(
            status=bindparam("o_status"),
            last_reply=bindparam("o_reply"),
            results=bindparam("o_results"),
            attempts=table.c.attempts + 1,
            sent_at=func.coalesce(bindparam("o_sent_at", type_=when), table.c.sent_at),
            next_attempt_at=func.coalesce(bindparam("o_next", type_=when), table.c.next_attempt_at),
        )
    )


def record_outcomes(connection: Connection, outcomes: Sequence[Outcome]) -> None:
    """Write what the attempts ended in, each counted as one attempt: one statement for them all."""
    if not outcomes:
        return
    connection.execute(
        _outcome_update(),
        [
            {
                "o_id": o.outbox_id,
                "o_status": o.status,
                "o_reply": o.reply,
                "o_results": dump_results(o.results),
                "o_sent_at": o.sent_at,
                "o_next": o.next_attempt_at,
            }
            for o in outcomes
        ],
    )


def _get(session: Session, outbox_id: int) -> Outbox:
    row = session.get(Outbox, outbox_id)
    if row is None:
        raise LookupError(f"no outbox row {outbox_id}")
    return row


def mark_bounced(session: Session, outbox_id: int, detail: str) -> Outbox:
    """A DSN reported the message undeliverable after the server had accepted it."""
    row = _get(session, outbox_id)
    row.status, row.last_reply = "bounced", detail
    session.add(row)
    return row


def release(session: Session, outbox_ids: Sequence[int], now: datetime) -> None:
    """Give back leased rows that were not tried (their attempts do not change)."""
    for outbox_id in outbox_ids:
        row = _get(session, outbox_id)
        if row.status == "queued":
            row.next_attempt_at = now
            session.add(row)


def list_outbox(session: Session, status: str | None = None, limit: int = 200) -> list[Outbox]:
    """Outbox rows, newest first, optionally of one status."""
    query = select(Outbox).order_by(col(Outbox.id).desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    return list(session.exec(query))


def requeue(session: Session, outbox_id: int, now: datetime, *, force: bool = False) -> Outbox:
    """Queue a row again, due now, with a fresh attempt count; a sent row only with `force`."""
    row = _get(session, outbox_id)
    if row.status == "sent" and not force:
        raise ValueError(f"outbox row {outbox_id} was already sent")
    row.status, row.next_attempt_at, row.attempts = "queued", now, 0
    # Keep who got it (never sent twice); forget refusals so those recipients are tried again.
    kept = {r: res for r, res in load_results(row.results).items() if 200 <= res[0] < 300}
    row.results = dump_results(kept) if kept else ""
    session.add(row)
    return row


def new_row(
    *,
    idempotency_key: str,
    ticket_id: int | None,
    kind: str,
    message_id: str,
    recipients: Sequence[str],
    raw: bytes,
    now: datetime,
) -> dict[str, Any]:
    """The values of a queued outbox row."""
    return {
        "idempotency_key": idempotency_key,
        "ticket_id": ticket_id,
        "kind": kind,
        "message_id": message_id,
        "envelope_from": "",
        "recipients": ",".join(recipients),
        "raw": raw,
        "status": "queued",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "last_reply": "",
        "results": "",
    }
