"""RELIABILITY.md catalogue cases for sending that lacked a test asserting their outcome: the real
OutboxDrainer, a real aiosmtpd sink, SQLite and PostgreSQL. See tests/RELIABILITY.md."""

import asyncio
import logging
from collections.abc import Callable
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from mailer.transport import SmtpTransport
from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.integration.test_ack_delivery import LANGUAGES, USER, Desk, smtp_settings, user_mail
from tests.integration.test_bounces import dsn_for, setup_ticket
from tests.integration.test_outbox_smtp import ack_intent, drainer, outbound, queue, row_of
from tickets import repository as repo
from tickets.clock import FakeClock
from tickets.db import read_only
from tickets.models import Outbox, Ticket
from tickets.values import ReceiptKey

# -- B18: the process dies after the server said 250, before the row was marked sent -----------------


async def test_b18_a_new_process_resends_with_the_same_message_id(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    first = drainer(engine, SmtpTransport(outbound(smtp_sink.port)), clock, outbound(smtp_sink.port))

    def dies_before_recording(*args: Any) -> None:  # the database write that would say "sent" never happens
        raise ConnectionError("process killed")

    monkeypatch.setattr(first, "_write", dies_before_recording)
    with pytest.raises(ConnectionError):
        await first.run_once()
    await first.transport.close()
    assert len(smtp_sink.received) == 1 and row_of(engine, outbox_id).status == "queued"

    clock.advance(hours=1)  # a new process, after the dead one's claim ran out
    second = drainer(engine, SmtpTransport(outbound(smtp_sink.port)), clock, outbound(smtp_sink.port))
    stats = await second.run_once()
    await second.transport.close()

    assert stats.sent == 1
    ids = [m.parsed()["Message-ID"] for m in smtp_sink.received]
    assert len(ids) == 2 and ids[0] == ids[1] == row_of(engine, outbox_id).message_id  # RFC 1047's duplicate
    assert row_of(engine, outbox_id).status == "sent"


# -- B20: a delayed DSN is noted on the ticket and changes nothing else ------------------------------------


def test_b20_a_delayed_dsn_is_noted_on_the_ticket_without_a_state_change(make_settings, db_url, engine, clock) -> None:
    ingestor, ticket_id, outbox_id, sender, verp = setup_ticket(make_settings, db_url, engine, clock)
    result = ingestor.process(
        ReceiptKey(mailbox="s", uidvalidity=1, uid=2), dsn_for(sender, verp, "delayed"), clock.now()
    )
    assert (result.action, result.ticket_id, result.outgoing) == ("attached", ticket_id, ())
    with read_only(engine) as session:
        noted = [e.detail for e in repo.ticket_events(session, ticket_id) if e.kind == "bounce"]
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        status, undeliverable = ticket.status, ticket.requester_undeliverable
        row = session.get(Outbox, outbox_id)
        assert row is not None
    assert len(noted) == 1 and noted[0].startswith("delayed: ") and sender in noted[0]
    assert (status, undeliverable, row.status) == ("open", False, "queued")


async def test_b20_an_smtp_deferral_is_shown_on_the_ticket_once(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    """The relay answers 451 twice, then takes it: the agent sees "delayed" on the ticket once,
    nobody is mailed about it, and the ack is sent once."""
    smtp_sink.script("data", "451 4.3.0 greylisted, try again later", "451 4.3.0 greylisted, try again later")
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    case = LANGUAGES["es"]
    result = desk.receive(user_mail(index=1, subject=case["subject"], body=case["body"], when=clock.now())[1])
    for _ in range(3):
        await desk.drain()
        clock.advance(minutes=10)
    await desk.close()
    with read_only(engine) as session:
        (ack,) = session.scalars(select(Outbox).where(Outbox.kind == "ack")).all()
        events = [e for e in repo.ticket_events(session, result.ticket_id or 0) if e.kind == "delivery_delayed"]
        events = [e for e in events if e.detail.startswith("ack ")]
        kinds = set(session.scalars(select(Outbox.kind)))
    assert ack.status == "sent" and ack.attempts >= 2, "never deferred"
    assert len(events) == 1 and "451 4.3.0" in events[0].detail and USER in events[0].detail, events
    assert "delayed" in events[0].detail and kinds == {"ack", "agent_notification"}, "a deferral mails nobody"
    assert len(smtp_sink.delivered_to(USER)) == 1


# -- B22: a permanent failure is shown on the ticket -------------------------------------------------------


async def test_b22_a_permanent_failure_is_shown_on_the_ticket(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse(USER, "550 5.1.1 no such user here")
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    case = LANGUAGES["es"]
    result = desk.receive(user_mail(index=1, subject=case["subject"], body=case["body"], when=clock.now())[1])
    await desk.drain()
    clock.advance(hours=3)
    await desk.drain()
    await desk.close()
    with read_only(engine) as session:
        (ack,) = session.scalars(select(Outbox).where(Outbox.kind == "ack")).all()
        details = [e.detail for e in repo.ticket_events(session, result.ticket_id or 0)]
    assert ack.status == "failed" and "550 5.1.1" in ack.last_reply  # recorded, not retried
    assert smtp_sink.rcpt_log.count(USER) == 1
    assert any("550 5.1.1" in d for d in details), details  # ...and the agent can see it on the ticket


async def test_b22_the_supervisors_are_told_once_and_a_failed_notice_tells_nobody(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    boss = "jefa@ventanilla.example"
    smtp_sink.refuse(USER, "550 5.1.1 no such user here")
    smtp_sink.refuse(boss, "552 5.2.2 mailbox full")  # the notice fails too: shown, told to nobody
    settings = smtp_settings(make_settings, db_url, smtp_sink.port)
    settings = settings.model_copy(update={"helpdesk": settings.helpdesk.model_copy(update={"supervisors": [boss]})})
    desk = Desk(settings, engine, clock)
    case = LANGUAGES["es"]
    result = desk.receive(user_mail(index=1, subject=case["subject"], body=case["body"], when=clock.now())[1])
    for _ in range(3):
        await desk.drain()
        clock.advance(hours=3)
    await desk.close()
    with read_only(engine) as session:
        notices = session.scalars(select(Outbox).where(Outbox.kind == "delivery_failed")).all()
        failed = [e.detail for e in repo.ticket_events(session, result.ticket_id or 0) if e.kind == "delivery_failed"]
    assert [(n.recipients, n.status) for n in notices] == [(boss, "failed")], notices  # one notice, no loop
    body = message_from_bytes(notices[0].raw, policy=default).get_body(("plain",))
    assert body is not None and "550 5.1.1" in body.get_content() and USER in body.get_content()  # what and whom
    assert len(failed) == 2 and any(d.startswith(f"ack to {USER}") for d in failed), failed
    assert any(d.startswith(f"delivery_failed to {boss}") and "552 5.2.2" in d for d in failed), failed


# -- B23: a relay down for an hour with mail queued: said once, nothing dropped ---------------------------


async def _outage(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink], n: int
) -> tuple[list[int], SmtpSink, list[logging.LogRecord], list[logging.LogRecord]]:
    """`n` acks queued; the relay is down for an hour (the drainer's own loop, breaker and all), then up.
    Returns (outbox ids, the sink, records logged during the outage, records after)."""
    ids = [queue(engine, clock, ack_intent(key=f"ack:{i}", to=(f"u{i}@example.org",))) for i in range(n)]
    settings = outbound(free_port)
    sender = drainer(engine, SmtpTransport(settings), clock, settings)
    sender.poll_seconds = 0.01
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        for _ in range(30):  # an hour of fake time, two minutes a step
            clock.advance(minutes=2)
            await asyncio.sleep(0.05)
        during = list(records)
        sink = smtp_sink_factory(port=free_port)
        for _ in range(200):
            clock.advance(minutes=10)
            await asyncio.sleep(0.05)
            if len(sink.received) >= n:
                break
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await sender.transport.close()
        root.removeHandler(handler)
        root.setLevel(old_level)
    return [i for i in ids if i is not None], sink, during, records[len(during) :]


async def test_b23_an_hour_long_relay_outage_drops_nothing_and_sends_each_once(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    queued = 500  # the catalogue's figure
    ids, sink, during, _ = await _outage(engine, clock, free_port, smtp_sink_factory, queued)
    attempts = [r for r in during if getattr(r, "action", "") == "outbox_retry"]
    assert 1 <= len(attempts) <= 20, "the breaker spaces the attempts out: no retry storm"
    assert sorted(m.rcpt_tos[0] for m in sink.received) == sorted(f"u{i}@example.org" for i in range(queued))
    with read_only(engine) as session:
        statuses = {r.id: r.status for r in session.scalars(select(Outbox))}
    assert statuses == dict.fromkeys(ids, "sent")


async def test_b23_an_hour_long_relay_outage_is_one_alert(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    _, sink, during, _ = await _outage(engine, clock, free_port, smtp_sink_factory, 10)
    alerts = [r for r in during if r.levelno >= logging.WARNING]
    assert len(alerts) == 1, [r.getMessage() for r in during]
    assert len(sink.received) == 10


async def test_b23_a_relay_refusing_our_password_is_an_outage_not_a_bad_message(
    engine: Engine, clock: FakeClock, smtp_sink_factory: Callable[..., SmtpSink], caplog: pytest.LogCaptureFixture
) -> None:
    """535 at AUTH (a password changed on the relay): no message is failed or blamed, it is said
    once, and everything goes once the password is right."""
    sink = smtp_sink_factory(login=("ventanilla", "the-new-password"))
    ids = [queue(engine, clock, ack_intent(key=f"ack:{i}", to=(f"user{i}@correo.example",))) for i in range(3)]
    wrong = outbound(sink.port, username="ventanilla", password="the-old-password")
    caplog.set_level(logging.INFO)
    first = drainer(engine, SmtpTransport(wrong), clock, wrong)
    first.poll_seconds = 0.01
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))  # its own loop: breaker, trouble and all
    for _ in range(20):  # forty minutes of fake time
        clock.advance(minutes=2)
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=15)
    await first.transport.close()
    rows = [row_of(engine, i) for i in ids]
    assert {r.status for r in rows} == {"queued"} and sink.received == []
    ours = [r for r in caplog.records if r.levelno >= logging.WARNING and not r.name.startswith("mail.log")]
    alerts = [r.getMessage() for r in ours]  # (mail.log is the sink's own aiosmtpd)
    assert len(alerts) == 1 and "535" in alerts[0], alerts

    right = outbound(sink.port, username="ventanilla", password="the-new-password")
    second = drainer(engine, SmtpTransport(right), clock, right)
    clock.advance(hours=1)
    assert (await second.run_once()).sent == 3
    await second.transport.close()
    assert len(sink.received) == 3 and {row_of(engine, i).status for i in ids} == {"sent"}
