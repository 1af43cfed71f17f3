"""The facts of how the service stands, and the one decision whether it is healthy (pure).

`ventanilla status`, `/healthz` and the database half of `/metrics` read the same facts
(tickets.status.queries.gather_facts), so every worker and the CLI tell the same truth.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from tickets.ingest.spool import ReceiptStatus
from tickets.outbox.queries import STATUSES as OUTBOX_STATUSES  # noqa: F401 (re-exported)
from tickets.sla.policy import THRESHOLDS

POLL_MISSES = 3  # the mailbox is late after this many poll intervals without a successful read
MIN_POLL_AGE = timedelta(seconds=30)
SPOOL_STATUSES = ("received", "failed")  # receipts still waiting to be processed
# Every status reported, even at 0 (a series that appears only once it is non-zero breaks rates and alerts).
RECEIPT_STATUSES = tuple(status.value for status in ReceiptStatus)
TICKET_STATUSES = ("open", "pending", "escalated", "resolved", "closed")
THRESHOLD_ORDER = THRESHOLDS


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusFacts:
    """What the database says at `now`; counts by status, oldest times, the last poll."""

    now: datetime
    mailbox: str
    polled_at: datetime | None = None  # the last successful read of the mailbox, by any worker
    lease_owner: str = ""  # the worker holding the mailbox's lease now ("host:pid:start"), "" when none
    receipts: Mapping[str, int] = field(default_factory=dict)
    tickets: Mapping[str, int] = field(default_factory=dict)
    outbox: Mapping[str, int] = field(default_factory=dict)
    oldest_queued_at: datetime | None = None  # creation of the oldest queued outgoing message
    oldest_due_at: datetime | None = None  # since when the longest-waiting due message is due
    sla_alerts: Mapping[str, int] = field(default_factory=dict)  # fired alerts by threshold
    sla_nearing: int = 0  # waiting for us, response due within the warning lead
    sla_past: int = 0  # waiting for us, response due time passed

    @property
    def spool_depth(self) -> int:
        """Received messages not processed yet (new, or failed and waiting for a retry)."""
        return sum(self.receipts.get(status, 0) for status in SPOOL_STATUSES)

    @property
    def quarantined(self) -> int:
        return self.receipts.get("quarantined", 0)

    @property
    def poll_age(self) -> timedelta | None:
        return None if self.polled_at is None else self.now - self.polled_at

    @property
    def oldest_queued_age(self) -> timedelta | None:
        return None if self.oldest_queued_at is None else self.now - self.oldest_queued_at

    @property
    def oldest_due_wait(self) -> timedelta | None:
        """How long the longest-waiting due message has waited for a send (0 when none is due)."""
        return None if self.oldest_due_at is None else max(timedelta(0), self.now - self.oldest_due_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPolicy:
    """When the service is healthy: a recent read of the mailbox, no outgoing mail stuck."""

    poll_seconds: float  # the longest the worker waits between two reads (IDLE or polling)
    max_outbox_age_seconds: float = 900.0

    @property
    def max_poll_age(self) -> timedelta:
        """POLL_MISSES intervals, and never under MIN_POLL_AGE: with a poll of a second or two, one
        slow pass (a large batch, a busy database) must not make the service look down."""
        return max(timedelta(seconds=POLL_MISSES * self.poll_seconds), MIN_POLL_AGE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """The verdict, and why in one line when it is bad."""

    ok: bool
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"status": "ok" if self.ok else "unhealthy", **({"reason": self.reason} if self.reason else {})}


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.0f} s"


def judge_health(facts: StatusFacts | None, policy: HealthPolicy, *, database_error: str = "") -> Health:
    """Healthy when the database answered (`facts` is None when it did not), the mailbox was read
    within POLL_MISSES poll intervals, and no due outgoing message waited over the limit."""
    if facts is None:
        return Health(ok=False, reason=f"database: {database_error or 'no answer'}")
    reasons = []
    age = facts.poll_age
    if age is None:
        reasons.append(f"mailbox {facts.mailbox}: never read successfully")
    elif age > policy.max_poll_age:
        reasons.append(
            f"mailbox {facts.mailbox}: last read {_seconds(age)} ago (limit {_seconds(policy.max_poll_age)})"
        )
    wait = facts.oldest_due_wait
    limit = timedelta(seconds=policy.max_outbox_age_seconds)
    if wait is not None and wait > limit:
        reasons.append(f"outbox: a due message has waited {_seconds(wait)} (limit {_seconds(limit)})")
    return Health(ok=not reasons, reason="; ".join(reasons))


def with_totals(live: StatusFacts, earlier: StatusFacts, live_statuses: Mapping[str, tuple[str, ...]]) -> StatusFacts:
    """`live` facts (live statuses only) completed with the other counts of `earlier` full facts."""

    def merged(table: str, now: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
        return {**{k: n for k, n in before.items() if k not in live_statuses[table]}, **now}

    return replace(
        live,
        receipts=merged("receipt", live.receipts, earlier.receipts),
        tickets=merged("ticket", live.tickets, earlier.tickets),
        outbox=merged("outbox", live.outbox, earlier.outbox),
        sla_alerts=dict(earlier.sla_alerts),
    )
