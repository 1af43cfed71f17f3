"""The outbox: queries on queued mail and the pure retry rule. Nothing here commits.

A claim names its holder ("host:pid:start", see ventanilla.pipeline.holder) and carries a
heartbeat that the holder renews while it sends. Another worker takes a claimed row only once the
heartbeat is older than HEARTBEAT_TIMEOUT, or at once when the holder is a process of its own host
that died. `next_attempt_at` is only ever when a row is due (a retry's backoff), never a lease.
"""

import functools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy import select as core_select  # more columns than sqlmodel.select is typed for
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from tickets.models import Outbox
from tickets.outbox.failures import DeliveryFailure
from tickets.values import OutgoingEmail

BACKOFF_MINUTES = (1, 5, 15, 30, 60)  # then hourly
JITTER = 0.2  # +/- 20 %
MIN_ATTEMPTS_BEFORE_EXPIRY = 3
STATUSES = ("queued", "sent", "failed", "bounced", "suppressed")
HEARTBEAT_TIMEOUT = timedelta(minutes=2)  # a claim whose heartbeat is older is anyone's
_OT: Any = Outbox.__table__  # type: ignore[attr-defined]
_O = _OT.c


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
    failure: DeliveryFailure | None = None  # set for `failed` on a ticket: shown there (B22)
    delay: DeliveryFailure | None = None  # set for the first retry of mail on a ticket: shown there (B20)


@functools.cache
def _claim_statements(dialect: str) -> tuple[Any, Any, Any]:
    """(holders of queued rows, due rows that are free, take them): built once, so a claim pays for
    no statement construction."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    c = table.c
    when = c.next_attempt_at.type
    # Only claimed_by: its index answers (a claim is cleared when its row stops being queued).
    holders = core_select(c.claimed_by).where(c.claimed_by > "").distinct()
    free = or_(
        c.claimed_by == "",
        c.heartbeat_at.is_(None),
        c.heartbeat_at < bindparam("stale", type_=when),
        c.claimed_by.in_(bindparam("freed", expanding=True)),
    )
    due = (
        core_select(c.id, c.ticket_id, c.kind, c.message_id, c.recipients, c.raw, c.attempts, c.created_at, c.results)
        .where(c.status == "queued", c.next_attempt_at <= bindparam("now", type_=when), free)
        # In the index's order (status, next_attempt_at): the scan stops after `limit` rows (and the
        # few held ones) instead of sorting every due row of a large backlog on each claim.
        .order_by(c.next_attempt_at, c.id)
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    take = (
        update(table)
        .where(c.id.in_(bindparam("ids", expanding=True)))
        .values(claimed_by=bindparam("holder"), heartbeat_at=bindparam("beat", type_=when))
    )
    return holders, due, take


def claim_due(
    connection: Connection,
    now: datetime,
    limit: int,
    *,
    holder: str,
    is_dead: Callable[[str], bool] = lambda _holder: False,
    timeout: timedelta = HEARTBEAT_TIMEOUT,
) -> list[ClaimedMail]:
    """Claim for `holder` up to `limit` queued rows that are due, longest due first: free ones,
    ones whose holder's heartbeat is older than `timeout`, and ones whose holder `is_dead`
    (another process of this host that died). Other workers skip rows locked here (PostgreSQL)."""
    holders, due, take = _claim_statements(connection.dialect.name)
    freed = [h for h in connection.execute(holders).scalars() if h != holder and is_dead(h)]
    params = {"now": now, "limit": limit, "stale": now - timeout, "freed": freed}
    rows = connection.execute(due, params).all()
    if rows:
        connection.execute(take, {"ids": [r.id for r in rows], "holder": holder, "beat": now})
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


def renew(connection: Connection, holder: str, now: datetime) -> int:
    """The heartbeat of every queued row `holder` claimed: they stay its own; how many."""
    statement = update(_OT).where(_O.claimed_by == holder, _O.status == "queued").values(heartbeat_at=now)
    return connection.execute(statement).rowcount or 0


def release(connection: Connection, outbox_ids: Sequence[int], *, holder: str) -> None:
    """Give back claimed rows that were not tried: free at once, attempts and due time unchanged."""
    if outbox_ids:
        connection.execute(
            update(_OT)
            .where(_O.id.in_(list(outbox_ids)), _O.claimed_by == holder, _O.status == "queued")
            .values(claimed_by="", heartbeat_at=None)
        )


def make_due(connection: Connection, now: datetime) -> int:
    """Every queued row waiting for a later time (a backoff, a date ahead) is due `now`; how many."""
    statement = update(_OT).where(_O.status == "queued", _O.next_attempt_at > now).values(next_attempt_at=now)
    return connection.execute(statement).rowcount or 0


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
            claimed_by="",
            heartbeat_at=None,
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


def list_outbox(session: Session, status: str | None = None, limit: int | None = 200) -> list[Outbox]:
    """Outbox rows, newest first, optionally of one status (at most `limit`; None = all)."""
    query = select(Outbox).order_by(col(Outbox.id).desc()).limit(limit)
    if status:
        query = query.where(Outbox.status == status)
    return list(session.exec(query))


def count_outbox(session: Session, status: str | None = None) -> int:
    """How many rows there are, optionally of one status (the listing's 'of M')."""
    query = core_select(func.count()).select_from(_OT)
    if status:
        query = query.where(_O.status == status)
    return int(session.scalar(query) or 0)


def count_queued(session: Session) -> int:
    """How many rows wait to be sent."""
    return int(session.scalar(core_select(func.count()).where(_O.status == "queued")) or 0)


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
