"""The status facts read from a real database (SQLite and PostgreSQL), after the product's own
paths wrote it: ingest, the SLA sweep, the sender, a poll; and the health verdict on them."""

import asyncio
from datetime import timedelta

import pytest

from config.settings import InboxSettings
from scheduler.jobs import run_sla_sweep
from tests.e2e.conftest import count_rows
from tests.integration.smtp_sink import unused_port
from tests.mailgen import message
from tickets.db import make_engine, unit_of_work
from tickets.ingest import mailbox
from tickets.models import Outbox
from tickets.sla.sweep import SweepPolicy
from tickets.values import ReceiptKey
from ventanilla.app import App
from ventanilla.observe.facts import FactsReader
from ventanilla.wiring import make_drainer, make_ingestor


def _ingest(app: App, count: int) -> None:
    ingestor = make_ingestor(app)
    try:
        for uid in range(1, count + 1):
            _, raw = message(index=uid, sender=f"user{uid}@correo.example", subject=f"Ayuda {uid}",
                             body="No puedo renovar mi certificado.", when=app.clock.now())
            ingestor.process(ReceiptKey(mailbox="support", uidvalidity=1, uid=uid), raw, app.clock.now())
    finally:
        ingestor.close()


@pytest.fixture
def app(make_settings, db_url, engine, clock, tmp_path) -> App:
    inbox = InboxSettings(kind="maildir", path=str(tmp_path / "maildir"), parse_processes=0, poll_seconds=30)
    return App(make_settings(db_url=db_url, inbox=inbox), engine, clock)


def test_facts_follow_what_the_worker_did(app: App, clock) -> None:
    reader = FactsReader(app.settings, app.engine, clock)
    empty, health = reader.check()
    assert empty is not None and empty.spool_depth == 0 and empty.polled_at is None
    assert health.reason == "mailbox support: never read successfully"

    _ingest(app, 3)
    with unit_of_work(app.engine) as session:
        mailbox.record_poll(session, "support", clock.now())
    facts, health = reader.check(totals=True)
    assert facts is not None and health.ok, health
    assert facts.receipts == {"ticketed": 3} and facts.tickets == {"open": 3}
    live, _ = reader.check()  # what /healthz reads: the statuses that still need work, nothing else
    assert live is not None and live.receipts == {} and live.tickets == {"open": 3} and live.sla_alerts == {}
    queued = count_rows(app.engine, Outbox)  # the acknowledgements and the agents' notifications
    assert queued >= 3 and facts.outbox == {"queued": queued}
    assert facts.oldest_queued_at == clock.now() and facts.oldest_due_wait == timedelta(0)
    assert facts.polled_at == clock.now()

    # Nobody sends for 16 minutes: the outbox is stuck (and the mailbox was not read either).
    clock.advance(minutes=16)
    facts, health = reader.check()
    assert facts is not None and facts.oldest_due_wait == timedelta(minutes=16)
    assert not health.ok
    assert health.reason == ("mailbox support: last read 960 s ago (limit 90 s); "
                             "outbox: a due message has waited 960 s (limit 900 s)")

    # The sender drains the outbox; a poll happens: healthy again.
    stats = asyncio.run(make_drainer(app.settings, app.engine, clock).run_once())
    assert stats.sent == queued
    with unit_of_work(app.engine) as session:
        mailbox.record_poll(session, "support", clock.now())
    facts, health = reader.check(totals=True)
    assert facts is not None and health.ok
    assert facts.outbox == {"sent": queued} and facts.oldest_queued_at is None and facts.oldest_due_at is None


def test_sla_counts_and_alerts_by_threshold(app: App, clock) -> None:
    _ingest(app, 2)
    start = clock.now()
    reader = FactsReader(app.settings, app.engine, clock)
    policy = SweepPolicy.from_settings(app.settings)
    due = policy.sla.thresholds("normal", start)
    warn_24h, breach_24h = due[0].at, due[1].at

    clock.set(warn_24h - timedelta(minutes=1))
    assert (reader.facts().sla_nearing, reader.facts().sla_past) == (0, 0)
    clock.set(warn_24h + timedelta(minutes=1))
    facts = reader.facts()
    assert (facts.sla_nearing, facts.sla_past) == (2, 0)  # within the warning lead of their due time

    clock.set(breach_24h + timedelta(minutes=1))
    run_sla_sweep(app, now=clock.now(), policy=policy)
    facts = reader.facts()
    assert (facts.sla_nearing, facts.sla_past) == (0, 2)
    assert facts.sla_alerts == {"warn-24h": 2, "breach-24h": 2}


def test_a_database_that_does_not_answer_is_unhealthy_in_one_line(app: App, clock, db_url, tmp_path) -> None:
    garbage = tmp_path / "not-a-database.db"
    garbage.write_bytes(b"this is not SQLite\n" * 512)
    dead = (f"postgresql://postgres@127.0.0.1:{unused_port()}/test" if db_url.startswith("postgresql")
            else f"sqlite:///{garbage}")
    engine = make_engine(dead)
    try:
        facts, health = FactsReader(app.settings, engine, clock).check()
    finally:
        engine.dispose()
    assert facts is None and not health.ok
    assert health.reason.startswith("database: ") and "\n" not in health.reason


def test_the_reader_of_the_mailbox_is_named_while_its_lease_runs(app: App, clock) -> None:
    reader = FactsReader(app.settings, app.engine, clock)
    with unit_of_work(app.engine) as session:
        assert mailbox.take_lease(session, "support", "host:42:1", clock.now(), clock.now() + timedelta(seconds=120))
    assert reader.facts().lease_owner == "host:42:1"
    clock.advance(seconds=121)  # the holder died without giving the lease back
    assert reader.facts().lease_owner == ""
