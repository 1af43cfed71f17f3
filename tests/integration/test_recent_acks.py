"""The per-sender hourly cap's count (tickets.ingest.ack.recent_acks), on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

from tickets.db import read_only, unit_of_work
from tickets.ingest.ack import recent_acks
from tickets.ingest.batch import IngestBatch
from tickets.models import Outbox

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
MARIA = "maria@example.org"


def queued(kind: str, to: str, minutes_ago: int, n: int) -> Outbox:
    at = NOW - timedelta(minutes=minutes_ago)
    key = f"{kind}:{to}:{minutes_ago}:{n}"
    return Outbox(
        idempotency_key=key, kind=kind, message_id=f"<{n}@x>", recipients=to, raw=b"", created_at=at, next_attempt_at=at
    )


def test_the_cap_counts_the_last_hours_mail_of_its_kinds_and_the_batchs_acks(engine) -> None:  # type: ignore[no-untyped-def]
    rows = [queued("ack", MARIA, 10, 1), queued("ack", MARIA, 59, 2), queued("ack", MARIA, 61, 3)]
    rows += [
        queued("too_large", MARIA, 5, 4),
        queued("ack", "luis@example.org", 5, 5),
        queued("agent_reply", MARIA, 5, 6),
    ]
    with unit_of_work(engine) as session:
        session.add_all(rows)
    batch = IngestBatch()
    batch.acks[MARIA] += 2
    with read_only(engine) as session:
        assert recent_acks(session, MARIA, NOW, None) == 2
        assert recent_acks(session, MARIA, NOW, batch) == 4
        assert recent_acks(session, MARIA, NOW, None, kinds=("ack", "too_large")) == 3
        assert recent_acks(session, "nobody@example.org", NOW, batch) == 0
