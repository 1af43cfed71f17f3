"""Benchmark: one SLA sweep on 10k / 100k / 1M tickets (10% open, 1% due), SQLite and PostgreSQL.

    python bench/sla_sweep.py                      # 10,000 and 100,000 tickets
    python bench/sla_sweep.py --sizes 10000,1000000 --backends sqlite,postgresql

For every size it times, best of --repeat, each in a rolled-back transaction:
  baseline   an indexed COUNT of the due tickets (the cheapest possible "what is due?")
  1% due     a sweep that alerts 1% of all tickets (grows with the due count, by design)
  fixed due  a sweep that alerts a fixed number of tickets (--fixed-due): must not grow with size
  none due   a sweep that finds nothing due: must not grow with size (target < 250 ms at 1M)
The sweep is the use case (queries, alert rows, events, intents); rendering mail is not included.
"""

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from config.sla import SlaSettings
from tickets.db import make_engine
from tickets.migrate import upgrade
from tickets.models import Ticket
from tickets.sla.policy import SlaPolicy
from tickets.sla.sweep import SweepPolicy, sweep

NOW = datetime(2026, 10, 7, 9, 0, tzinfo=UTC)
PG_URL = os.environ.get("VENTANILLA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POLICY = SweepPolicy(sla=SlaPolicy.from_settings(SlaSettings()), supervisors=("sup@ventanilla.example",))
CHUNK = 20_000


def ticket_rows(total: int, due: int) -> Iterator[dict[str, object]]:
    """90% closed, 10% open; of the open ones `due` have passed their warning by NOW."""
    open_count = total // 10
    for i in range(total):
        if i < due:
            start, status = NOW - timedelta(hours=22, minutes=i % 600), "open"  # warned, some breached
        elif i < open_count:
            start, status = NOW - timedelta(minutes=(i * 7) % (19 * 60)), "open"  # not due yet
        else:
            start, status = NOW - timedelta(days=3 + i % 900), "closed"
        yield {
            "status": status,
            "priority": "normal",
            "category": "general",
            "language": "es",
            "requester_email": f"user{i}@example.org",
            "requester_name": "",
            "subject": f"ticket {i}",
            "created_at": start,
            "updated_at": start,
            "cycle": 1,
            "cycle_started_at": start,
            "response_due_at": start + timedelta(hours=24),
            "hard_due_at": start + timedelta(hours=48),
            "assigned_agent": "",
            "requester_undeliverable": False,
        }


def fill(engine: Engine, total: int, due: int) -> None:
    rows = ticket_rows(total, due)
    with engine.begin() as conn:
        while batch := [row for _, row in zip(range(CHUNK), rows, strict=False)]:
            conn.execute(insert(Ticket.__table__), batch)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def best_of(engine: Engine, repeat: int, work: Callable[[Session], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        with Session(engine) as session:
            started = time.perf_counter()
            result = work(session)
            best = min(best, time.perf_counter() - started)
            session.rollback()
    return best, result


def count_due(session: Session) -> int:
    query = select(func.count()).where(
        Ticket.status.in_(("open", "escalated")), Ticket.response_due_at <= POLICY.sla.horizon(NOW)  # type: ignore[attr-defined,operator]
    )
    return int(session.scalar(query) or 0)


def measure(engine: Engine, repeat: int) -> dict[str, tuple[float, int]]:
    base, due = best_of(engine, repeat, count_due)
    swept, result = best_of(engine, repeat, lambda s: sweep(s, now=NOW, policy=POLICY))
    empty, none = best_of(engine, repeat, lambda s: sweep(s, now=NOW - timedelta(hours=3), policy=POLICY))
    return {
        "baseline": (base, int(due)),  # type: ignore[arg-type]
        "sweep": (swept, len(result.alerts)),  # type: ignore[union-attr]
        "none": (empty, len(none.alerts)),  # type: ignore[union-attr]
    }


class Database:
    """A fresh database per size: a SQLite file, or a PostgreSQL schema dropped afterwards."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def __enter__(self) -> Engine:
        if self.backend == "sqlite":
            self._dir = tempfile.TemporaryDirectory()
            self.engine = make_engine(f"sqlite:///{self._dir.name}/bench.db")
        else:
            self._schema = "bench_" + uuid.uuid4().hex[:10]
            self._admin = create_engine(PG_URL)
            with self._admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {self._schema}"))
            self.engine = make_engine(f"{PG_URL}?options=-csearch_path%3D{self._schema}")
        upgrade(self.engine)
        return self.engine

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        if self.backend == "sqlite":
            self._dir.cleanup()
        else:
            with self._admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {self._schema} CASCADE"))
            self._admin.dispose()


def run(backend: str, sizes: list[int], fixed_due: int, repeat: int) -> None:
    print(f"\n== {backend}")
    print(f"{'tickets':>10} {'due':>7} {'build s':>8} {'count ms':>9} {'sweep ms':>9} {'x count':>8} {'alerts':>6}"
          f" {'fixed ms':>9} {'none ms':>8}")
    first: dict[str, float] = {}
    for size in sizes:
        with Database(backend) as engine:
            started = time.perf_counter()
            fill(engine, size, size // 100)
            build = time.perf_counter() - started
            one_percent = measure(engine, repeat)
        with Database(backend) as engine:
            fill(engine, size, fixed_due)
            fixed = measure(engine, repeat)
        base, due = one_percent["baseline"]
        swept, alerts = one_percent["sweep"]
        fixed_ms, none_ms = fixed["sweep"][0] * 1000, fixed["none"][0] * 1000
        first.setdefault("fixed", fixed_ms)
        first.setdefault("none", none_ms)
        print(f"{size:>10,} {due:>7,} {build:>8.1f} {base * 1000:>9.1f} {swept * 1000:>9.1f} {swept / base:>8.0f}"
              f" {alerts:>6,} {fixed_ms:>9.1f} {none_ms:>8.1f}")
    print(f"fixed due ({fixed_due}) at the largest size / smallest: {fixed_ms / first['fixed']:.2f}x; "
          f"nothing due: {none_ms / first['none']:.2f}x (target <= 3x; nothing due < 250 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated ticket counts")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--fixed-due", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for backend in args.backends.split(","):
        run(backend, sizes, args.fixed_due, args.repeat)


if __name__ == "__main__":
    main()
