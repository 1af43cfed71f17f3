"""Outbox claims name their holder and carry a heartbeat (issue 12 item 13), on SQLite and PostgreSQL,
through a real aiosmtpd sink: a restart takes back at once what a dead process of this host held;
a live holder keeps its rows while its heartbeat is renewed, and loses them once it is too old."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from mailer.transport import SmtpTransport
from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.integration.test_outbox_smtp import HELPDESK, ack_intent, drainer, outbound, queue, row_of
from tickets.clock import FakeClock
from tickets.db import transaction
from tickets.outbox import queries
from ventanilla.pipeline.holder import holder_of
from ventanilla.pipeline.sender import OutboxDrainer

TIMEOUT = queries.HEARTBEAT_TIMEOUT
HOST = socket.gethostname()


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """Another process of this host that keeps running for the whole test."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    """The pid of a process of this host that ran and is gone (killed and reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    proc.kill()
    proc.wait()
    return proc.pid


def queue_three(engine: Engine, clock: FakeClock) -> list[int]:
    ids = [queue(engine, clock, ack_intent(key=f"ack:{i}", to=(f"u{i}@example.org",))) for i in range(3)]
    return [i for i in ids if i is not None]


def claim_as(engine: Engine, holder: str, clock: FakeClock) -> list[int]:
    with transaction(engine) as connection:
        return [m.id for m in queries.claim_due(connection, clock.now(), 10, holder=holder)]


async def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.01)


@pytest.mark.timeout(60)
async def test_rows_of_a_sender_killed_mid_send_are_sent_at_once_by_the_next(
    engine: Engine, db_url: str, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    ids = queue_three(engine, clock)
    smtp_sink.script("rcpt", "wait 30")  # the first send hangs: the process is killed in the middle
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.outbox_child", db_url, str(smtp_sink.port), clock.now().isoformat()]
    )
    try:
        await wait_for(lambda: bool(smtp_sink.rcpt_log) or child.poll() is not None, 30, "the child sending")
        assert child.poll() is None, "the child sender exited on its own"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert {row_of(engine, i).claimed_by.rsplit(":", 1)[0] for i in ids} == {f"{HOST}:{child.pid}"}

    transport = SmtpTransport(outbound(smtp_sink.port))
    stats = await drainer(engine, transport, clock, outbound(smtp_sink.port)).run_once()  # same moment
    await transport.close()

    assert stats.claimed == 3 and stats.sent == 3, "the dead sender's claims were not taken back at once"
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.received) == ["u0@example.org", "u1@example.org", "u2@example.org"]
    assert all(row_of(engine, i).status == "sent" and row_of(engine, i).claimed_by == "" for i in ids)


async def test_a_holder_of_this_host_whose_pid_is_gone_loses_its_claims_at_once(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    ids = queue_three(engine, clock)
    assert claim_as(engine, f"{HOST}:{dead_pid()}:12345", clock) == ids
    transport = SmtpTransport(outbound(smtp_sink.port))
    stats = await drainer(engine, transport, clock, outbound(smtp_sink.port)).run_once()
    await transport.close()
    assert stats.sent == 3 and len(smtp_sink.received) == 3


async def test_a_pid_reused_by_another_process_is_not_mistaken_for_the_holder(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink, live_process: subprocess.Popen[bytes]
) -> None:
    queue_three(engine, clock)
    started = int(holder_of(live_process.pid).rsplit(":", 1)[1])
    # The holder had this pid, but started at another time: the process now running is not it.
    claim_as(engine, f"{HOST}:{live_process.pid}:{started - 1}", clock)
    transport = SmtpTransport(outbound(smtp_sink.port))
    stats = await drainer(engine, transport, clock, outbound(smtp_sink.port)).run_once()
    await transport.close()
    assert stats.sent == 3 and len(smtp_sink.received) == 3


@pytest.mark.parametrize("where", ["this-host", "other-host"])
async def test_a_live_holder_keeps_its_rows_until_its_heartbeat_is_older_than_the_timeout(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink, live_process: subprocess.Popen[bytes], where: str
) -> None:
    assert TIMEOUT <= timedelta(minutes=2)
    ids = queue_three(engine, clock)
    holder = holder_of(live_process.pid) if where == "this-host" else "worker-b.example:4242:99"
    assert claim_as(engine, holder, clock) == ids
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    clock.advance(seconds=TIMEOUT.total_seconds() - 1)
    assert (await sender.run_once()).claimed == 0 and smtp_sink.received == []
    assert all(row_of(engine, i).claimed_by == holder for i in ids)
    clock.advance(seconds=2)  # the heartbeat is now older than the timeout: the holder is gone
    stats = await sender.run_once()
    await transport.close()
    assert stats.sent == 3 and len(smtp_sink.received) == 3


@pytest.mark.timeout(30)
async def test_a_long_send_renews_the_heartbeat_so_nobody_takes_the_row(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    assert outbox_id is not None
    smtp_sink.script("rcpt", "wait 1.5")  # a slow server
    first_transport, other_transport = SmtpTransport(outbound(smtp_sink.port)), SmtpTransport(outbound(smtp_sink.port))
    first = OutboxDrainer(
        engine, first_transport, clock, helpdesk=HELPDESK, outbound=outbound(smtp_sink.port), heartbeat_every=0.05
    )
    other = OutboxDrainer(
        engine, other_transport, clock, helpdesk=HELPDESK, outbound=outbound(smtp_sink.port), holder="worker-b:7:7"
    )
    sending = asyncio.create_task(first.run_once())
    try:
        await wait_for(lambda: bool(smtp_sink.rcpt_log), 10, "the first sender in the middle of its send")
        clock.advance(minutes=3)  # the send lasts longer than the heartbeat timeout
        await wait_for(lambda: row_of(engine, outbox_id).heartbeat_at == clock.now(), 1.0, "the heartbeat renewed")
        assert (await other.run_once()).claimed == 0, "another sender took a row that is being sent"
        stats = await sending
    finally:
        await asyncio.gather(sending, return_exceptions=True)
        await first_transport.close()
        await other_transport.close()
    assert stats.sent == 1 and len(smtp_sink.received) == 1
    assert row_of(engine, outbox_id).status == "sent"
