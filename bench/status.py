"""Benchmark: what one /metrics scrape (or /healthz, or `ventanilla status`) costs the database,
by database size, on SQLite and PostgreSQL.

    python -m bench.status                         # 10,000 and 100,000 of each row kind
    python -m bench.status --sizes 100000,1000000 --backends postgresql

Each size has N receipts, N tickets, N outbox rows and N/10 SLA alerts, of which a fixed number
(--waiting, default 1,000) still need work: receipts waiting, open tickets, queued mail; the rest is
history. Timed, best of --repeat, in a read-only transaction:
  baseline   one indexed COUNT (the queued outbox rows): the cheapest question one can ask
  live       gather_facts(totals=False): what /healthz and every scrape read (live statuses only)
  totals     gather_facts(): every status counted (`ventanilla status`; a scrape at most once a minute)
"""

import argparse
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine

from bench.sla_sweep import Database
from config.sla import SlaSettings
from tickets.models import Blob, Outbox, Receipt, Ticket
from tickets.sla.models import SlaAlert
from tickets.sla.policy import SlaPolicy
from tickets.status.queries import gather_facts

NOW = datetime(2026, 10, 7, 9, 0, tzinfo=UTC)
SLA = SlaPolicy.from_settings(SlaSettings())
CHUNK = 20_000
SHA = "0" * 64


def _rows(total: int, make: Callable[[int], dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    for start in range(0, total, CHUNK):
        yield [make(i) for i in range(start, min(total, start + CHUNK))]


WAITING = [1000]  # rows that still need work, of each kind (--waiting)


def _ticket(i: int) -> dict[str, object]:
    start = NOW - timedelta(minutes=i % 5000)
    return {"status": "open" if i < WAITING[0] else "closed", "priority": "normal", "category": "general",
            "language": "es", "requester_email": f"u{i}@example.org", "requester_name": "", "subject": f"t{i}",
            "created_at": start, "updated_at": start, "cycle": 1, "cycle_started_at": start,
            "response_due_at": start + timedelta(hours=24), "hard_due_at": start + timedelta(hours=48),
            "assigned_agent": "", "requester_undeliverable": False}


def _receipt(i: int) -> dict[str, object]:
    return {"mailbox": "support", "uidvalidity": 1, "uid": i + 1, "raw_sha256": SHA, "message_id": f"<{i}@x>",
            "size": 1000, "arrived_at": NOW, "received_at": NOW, "status": "received" if i < WAITING[0] else "ticketed",
            "reason": "", "attempts": 0, "claimed_by": "", "copied_to": "", "sender": "", "sender_name": "",
            "subject": ""}


def _outbox(i: int) -> dict[str, object]:
    queued = i < WAITING[0]
    return {"idempotency_key": f"k{i}", "kind": "ack", "message_id": f"<o{i}@x>", "envelope_from": "",
            "recipients": f"u{i}@example.org", "raw": b"x", "status": "queued" if queued else "sent",
            "attempts": 0, "created_at": NOW - timedelta(minutes=i % 60), "next_attempt_at": NOW + timedelta(hours=1),
            "sent_at": None if queued else NOW, "last_reply": "", "results": "", "claimed_by": ""}


def _alert(i: int) -> dict[str, object]:
    return {"ticket_id": i + 1, "cycle": 1, "threshold": ("warn-24h", "breach-24h")[i % 2], "due_at": NOW,
            "fired_at": NOW, "late_seconds": 0}


def fill(engine: Engine, total: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Blob), [{"sha256": SHA, "size": 1, "data": b"x"}])
        for model, make, count in ((Ticket, _ticket, total), (Receipt, _receipt, total), (Outbox, _outbox, total),
                                   (SlaAlert, _alert, total // 10)):
            for chunk in _rows(count, make):
                conn.execute(insert(model), chunk)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def best_of(engine: Engine, repeat: int, work: Callable[[Connection], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        with engine.connect() as conn:
            started = time.perf_counter()
            result = work(conn)
            best = min(best, time.perf_counter() - started)
            conn.rollback()
    return best, result


def baseline(conn: Connection) -> int:
    o = Outbox.__table__.c  # type: ignore[attr-defined]
    return int(conn.execute(select(func.count()).where(o.status == "queued")).scalar() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--waiting", type=int, default=1000, help="rows of each kind that still need work")
    args = parser.parse_args()
    WAITING[0] = args.waiting
    print(f"{'backend':<11}{'rows each':>10}{'baseline':>11}{'live':>11}{'ratio':>8}{'totals':>11}{'ratio':>8}")
    for backend in args.backends.split(","):
        for size in map(int, args.sizes.split(",")):
            with Database(backend) as engine:
                fill(engine, size)
                base, _ = best_of(engine, args.repeat, baseline)
                live, facts = best_of(engine, args.repeat, lambda c: gather_facts(
                    c, now=NOW, mailbox="support", sla=SLA, totals=False))
                assert facts.spool_depth == min(size, args.waiting)  # type: ignore[attr-defined]
                took, _ = best_of(engine, args.repeat, lambda c: gather_facts(c, now=NOW, mailbox="support", sla=SLA))
                print(f"{backend:<11}{size:>10,}{base * 1000:>9.2f}ms{live * 1000:>9.2f}ms{live / base:>7.1f}x"
                      f"{took * 1000:>9.2f}ms{took / base:>7.1f}x")


if __name__ == "__main__":
    main()
