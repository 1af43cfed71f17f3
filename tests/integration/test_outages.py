"""Outages are not bad messages: PostgreSQL going away (a TCP proxy we cut) stops nothing for good,
blames no message, and is said once when it starts and once when it ends (issue 12, items 2, 16, 17)."""

import asyncio
import logging
import threading

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url

from mailer.maildir import MaildirSource, deliver_to_maildir
from tests.integration.tcp_proxy import tcp_proxy
from tests.mailgen import backlog
from tickets import repository as repo
from tickets.db import make_engine, read_only
from tickets.models import Outbox, Receipt
from ventanilla.app import App
from ventanilla.wiring import make_drainer, make_poller
from ventanilla.worker import MailboxLoop


@pytest.fixture
def pg_through_proxy(db_url: str):  # type: ignore[no-untyped-def]
    """(proxy, engine) for the test's PostgreSQL schema, reached through a proxy the test can cut."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a server to cut: PostgreSQL")
    url = make_url(db_url)
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
        yield proxy, engine
        engine.dispose()


def _trouble_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if getattr(r, "action", "") in ("trouble", "trouble-over")]


async def test_the_outbox_says_once_that_the_database_is_gone_and_once_that_it_is_back(
    make_settings, db_url, pg_through_proxy, clock, caplog
) -> None:
    proxy, engine = pg_through_proxy
    settings = make_settings(db_url=db_url)
    drainer = make_drainer(settings, engine, clock)
    drainer.poll_seconds = 0.05
    stop = asyncio.Event()
    caplog.set_level(logging.INFO)
    proxy.cut()
    running = asyncio.create_task(drainer.run(stop))
    await asyncio.sleep(1.5)  # many drains fail meanwhile
    proxy.restore()
    await asyncio.sleep(1.0)
    stop.set()
    await running

    lines = _trouble_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("outbox: database unavailable")
    assert lines[1].startswith("outbox: working again after") and "failed attempt" in lines[1]
    assert not any(r.exc_info for r in caplog.records), "no traceback for an outage"


async def test_the_worker_stays_up_through_a_database_outage_and_blames_no_message(
    make_settings, db_url, pg_through_proxy, clock, tmp_path, caplog
) -> None:
    proxy, engine = pg_through_proxy
    settings = make_settings(db_url=db_url)
    mails = backlog(3, reply_every=100)
    for mail in mails:
        deliver_to_maildir(settings.inbox.path, mail["raw"])
    caplog.set_level(logging.INFO)
    poller = make_poller(App(settings, engine, clock), MaildirSource(settings.inbox))
    loop = MailboxLoop(poller, engine, clock, settings)
    stop = asyncio.Event()
    proxy.cut()  # down before the scan reads the mailbox's state
    running = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(2.5)
    assert not running.done(), "the worker stays up"
    proxy.restore()
    for _ in range(100):  # the backoff doubles from 1 s: the next pass comes within a few seconds
        await asyncio.sleep(0.1)
        with read_only(engine) as session:
            if len(repo.list_tickets(session)) == 3:
                break
    stop.set()
    await running

    with read_only(engine) as session:
        assert len(repo.list_tickets(session)) == 3
        assert repo.count_receipts(session) == {"ticketed": 3}
    lines = _trouble_lines(caplog)
    assert len(lines) == 2 and "DatabaseUnavailableError" in lines[0] and "working again" in lines[1], lines


async def test_a11_postgresql_gone_at_the_commit_of_the_tickets_loses_nothing_and_doubles_nothing(
    make_settings, db_url, pg_through_proxy, clock, caplog
) -> None:
    """The connection dies at the very COMMIT of the transaction that writes the tickets (the
    server restarted mid-transaction): that transaction is lost whole, no message is blamed, and
    once the server is back each message becomes one ticket, with one ack."""
    proxy, engine = pg_through_proxy
    settings = make_settings(db_url=db_url)
    for mail in backlog(4, reply_every=100):
        deliver_to_maildir(settings.inbox.path, mail["raw"])
    writes_tickets, cuts = [False], []

    def note(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        writes_tickets[0] |= statement.lstrip().upper().startswith("INSERT INTO TICKET ")

    def cut_at_commit(conn) -> None:  # type: ignore[no-untyped-def]
        if writes_tickets[0] and not cuts:
            cuts.append(True)
            proxy.cut()  # the COMMIT that follows never reaches the server
            threading.Timer(1.5, proxy.restore).start()
        writes_tickets[0] = False

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", cut_at_commit)
    caplog.set_level(logging.INFO)
    poller = make_poller(App(settings, engine, clock), MaildirSource(settings.inbox))
    loop = MailboxLoop(poller, engine, clock, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(loop.run(stop))
    for _ in range(150):
        await asyncio.sleep(0.1)
        if cuts and proxy.is_open():
            with read_only(engine) as session:
                if repo.count_receipts(session) == {"ticketed": 4}:
                    break
    stop.set()
    await running

    assert cuts, "the commit of the tickets was never reached"
    with read_only(engine) as session:
        assert len(repo.list_tickets(session)) == 4
        assert repo.count_receipts(session) == {"ticketed": 4}
        acks = session.scalars(select(Outbox.idempotency_key).where(Outbox.kind == "ack")).all()
        attempts = session.scalars(select(Receipt.attempts)).all()
    assert len(acks) == len(set(acks)) == 4
    assert max(attempts) <= 1, "an outage was counted against a message"
    lines = _trouble_lines(caplog)
    assert any("working again" in line for line in lines), lines
    assert not any(r.exc_info for r in caplog.records), "no traceback for an outage"
