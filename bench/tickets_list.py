"""Benchmark: `tickets list` with a filter and --limit 50 over 100,000 tickets (issue 13).

    python -m bench.tickets_list                          # SQLite file in a temp folder
    python -m bench.tickets_list -n 100000 --db-url postgresql://postgres@127.0.0.1:5432/test

Tickets (10% open, 5% pending, 2% escalated, the rest resolved or closed; 20,000 requesters,
12 agents) and their search stems (subject and one message each, as tickets.threads stores them)
(one row per ticket) are bulk-inserted, then each listing runs through tickets.listing.list_tickets, the function the
CLI calls (the page of 50 and the 'of M' count). Figures are the median of --repeat runs, in ms,
and their ratio to a baseline measured in the same run: a plain `SELECT ... ORDER BY id DESC
LIMIT 50` on the same table. Target: under 200 ms for every filtered listing.
On PostgreSQL a schema of its own is created and dropped.
"""

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tickets import search
from tickets.db import make_engine, normalise_url
from tickets.listing import TicketFilter, list_tickets
from tickets.migrate import upgrade
from tickets.models import SearchText, Ticket

NOW = datetime(2026, 10, 7, 9, 0, tzinfo=UTC)
CHUNK = 10_000
TARGET_MS = 200.0
SUBJECTS = (
    "No puedo descargar mi certificado",
    "Certificado caducado, ¿cómo lo renuevo?",
    "Error al firmar la declaración",
    "Olvidé el PIN de la tarjeta",
    "Revocar certificado: me han robado el portátil",
    "Cannot export my certificate",
    "El lector de tarjetas no funciona",
    "Solicitud de cita para acreditación",
    "My certificate expired yesterday",
    "Problema con el navegador al instalar",
)
BODIES = (
    "Hola, al descargar el certificado me dice que el código de solicitud no es válido. Gracias.",
    "Buenos días, tengo los certificados caducados y no puedo presentar la renta. Un saludo.",
    "Hello, the export wizard fails with an error when I try to save the key. Regards.",
    "Me han robado el portátil con el certificado instalado, necesito revocarlo urgentemente.",
    "Al firmar con la tarjeta el programa se cierra sin dar ningún mensaje de error.",
)
STATUSES = ["open"] * 10 + ["pending"] * 5 + ["escalated"] * 2 + ["resolved"] * 23 + ["closed"] * 60
AGENTS = [f"agente{i}@ventanilla.example" for i in range(12)]
CATEGORIES = ("general", "export-import", "revocation", "renewal", "card", "appointment")


def ticket_rows(total: int, rng: random.Random) -> Iterator[tuple[dict[str, Any], int, int]]:
    """Ticket rows oldest first (about 2,000 a week), with the subject and body they use."""
    start = NOW - timedelta(minutes=5 * total)
    for i in range(total):
        at = start + timedelta(minutes=5 * i)
        subject, body = rng.randrange(len(SUBJECTS)), rng.randrange(len(BODIES))
        status = rng.choice(STATUSES)
        row = {
            "status": status,
            "priority": rng.choices(("normal", "high", "urgent"), (90, 8, 2))[0],
            "category": rng.choice(CATEGORIES),
            "language": "es",
            "requester_email": f"user{rng.randrange(20_000)}@correo.example",
            "requester_name": "",
            "subject": f"{SUBJECTS[subject]} ({i})",
            "created_at": at,
            "updated_at": at,
            "cycle": 1,
            "cycle_started_at": at,
            "response_due_at": at + timedelta(hours=24),
            "hard_due_at": at + timedelta(hours=48),
            "first_answered_at": None,
            "assigned_agent": rng.choice(AGENTS) if status != "open" else "",
            "linked_ticket_id": None,
            "requester_undeliverable": False,
        }
        yield row, subject, body


def fill(engine: Engine, total: int) -> float:
    """Bulk-insert the tickets and their search rows; seconds taken."""
    started = time.perf_counter()
    rng = random.Random(13)
    subject_terms = [search.terms([s]) for s in SUBJECTS]
    body_terms = [search.terms([b]) for b in BODIES]
    rows = ticket_rows(total, rng)
    next_id = 1
    with engine.begin() as conn:
        while batch := [item for _, item in zip(range(CHUNK), rows, strict=False)]:
            tickets = [{"id": next_id + n, **row} for n, (row, _, _) in enumerate(batch)]
            conn.execute(insert(Ticket.__table__), tickets)  # type: ignore[attr-defined]
            terms = [
                {"ticket_id": next_id + n, "terms": f"{subject_terms[subject]} {next_id + n} {body_terms[body]}"}
                for n, (_, subject, body) in enumerate(batch)
            ]
            conn.execute(insert(SearchText.__table__), terms)  # type: ignore[attr-defined]
            next_id += len(batch)
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"SELECT setval('ticket_id_seq', {next_id})"))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def median_ms(engine: Engine, repeat: int, work: Callable[[Session], int]) -> tuple[float, int]:
    """Median milliseconds of `work` over `repeat` runs (after one warm-up), and what it found."""
    found, times = 0, []
    for n in range(repeat + 1):
        with Session(engine) as session:
            started = time.perf_counter()
            found = work(session)
            if n:
                times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


def baseline(session: Session) -> int:
    query = select(Ticket).order_by(Ticket.id.desc()).limit(50)  # type: ignore[union-attr]
    return len(list(session.scalars(query)))


def listing(f: TicketFilter) -> Callable[[Session], int]:
    def work(session: Session) -> int:
        _, total = list_tickets(session, f, limit=50)
        return total

    return work


CASES = (
    ("no filter (count all)", TicketFilter()),
    ("--status open", TicketFilter(status="open")),
    ("--requester ADDR", TicketFilter(requester="user42@correo.example")),
    ("--agent ADDR --status pending", TicketFilter(agent=AGENTS[3], status="pending")),
    ("--priority urgent", TicketFilter(priority="urgent")),
    ("--since (last 7 days)", TicketFilter(since=NOW - timedelta(days=7))),
    ("--search 'certificados caducados'", TicketFilter(search="certificados caducados")),
    ("--search 'robado' --status open", TicketFilter(search="robado", status="open")),
    ("--search 'pin tarjeta' --category card", TicketFilter(search="pin tarjeta", category="card")),
)


class Database:
    """A SQLite file in a temp folder, or a PostgreSQL schema of its own (dropped afterwards)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)

    def __enter__(self) -> Engine:
        if self.url.startswith("sqlite"):
            self.engine = make_engine(self.url)
        else:
            self._schema = "bench_" + uuid.uuid4().hex[:10]
            self._admin = create_engine(self.url)
            with self._admin.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA {self._schema}"))
            joiner = "&" if "?" in self.url else "?"
            self.engine = make_engine(f"{self.url}{joiner}options=-csearch_path%3D{self._schema}")
        upgrade(self.engine)
        return self.engine

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        if not self.url.startswith("sqlite"):
            with self._admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {self._schema} CASCADE"))
            self._admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="tickets in the database")
    parser.add_argument("--db-url", default="", help="a database URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--repeat", type=int, default=7, help="runs per listing (the median is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Database(args.db_url or f"sqlite:///{folder}/bench.db") as engine:
        print(f"{engine.dialect.name}: inserting {args.n:,} tickets ...", flush=True)
        print(f"built in {fill(engine, args.n):.1f} s", flush=True)
        base, _ = median_ms(engine, args.repeat, baseline)
        print(f"{'listing (--limit 50)':40} {'ms':>8} {'x base':>8} {'matches':>9}")
        print(f"{'baseline: SELECT ... LIMIT 50':40} {base:8.2f} {1:8.1f} {'-':>9}")
        slowest = 0.0
        for name, f in CASES:
            ms, total = median_ms(engine, args.repeat, listing(f))
            slowest = max(slowest, ms)
            print(f"{name:40} {ms:8.2f} {ms / base:8.1f} {total:9,}")
        verdict = "under" if slowest < TARGET_MS else "OVER"
        print(f"slowest listing {slowest:.1f} ms: {verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
