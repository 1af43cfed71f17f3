"""The SMTP circuit breaker waits on a monotonic clock: a step of the wall clock never stops mail."""

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine

from mailer.transport import SmtpTransport
from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.integration.test_outbox_smtp import ack_intent, drainer, outbound, queue, row_of
from tickets.clock import FakeClock


async def test_stepping_the_clock_back_does_not_stop_the_mail(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    queue(engine, clock, ack_intent(key="ack:before"))
    transport = SmtpTransport(outbound(free_port))
    sender = drainer(engine, transport, clock, outbound(free_port))
    assert (await sender.run_once()).deferred  # the server is down: the breaker trips (about 1 min)
    clock.set(clock.now() - timedelta(hours=2))  # an operator (or NTP) steps the clock back 2 h
    later = queue(engine, clock, ack_intent(key="ack:after"))  # due at once by the new wall clock
    sink = smtp_sink_factory(port=free_port)
    clock.advance(minutes=2)  # two minutes pass: the breaker's wait is over
    stats = await sender.run_once()
    await transport.close()
    assert stats.sent == 1 and not stats.deferred
    assert row_of(engine, later).status == "sent" and len(sink.received) == 1


async def test_the_breaker_still_waits_when_the_clock_jumps_forward(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    queue(engine, clock, ack_intent(key="ack:1"))
    transport = SmtpTransport(outbound(free_port))
    sender = drainer(engine, transport, clock, outbound(free_port))
    assert (await sender.run_once()).deferred
    smtp_sink_factory(port=free_port)
    clock.set(clock.now() + timedelta(hours=3))  # a wall-clock jump is not time that went by
    assert (await sender.run_once()).deferred  # the breaker holds: no hammering of a dead server
    clock.advance(minutes=2)
    assert (await sender.run_once()).sent == 1
    await transport.close()
