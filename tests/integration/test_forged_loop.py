"""Issue 12 item 12: a forged X-Ventanilla-Loop / X-Loop naming us, on mail from outside, must not
silence a user: the message is a ticket, never acknowledged. Our own mail come back stays a loop."""

import pytest
from sqlalchemy.engine import Engine

from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.integration.test_ack_delivery import SUPPORT, USER, Desk, events, outbox_rows, smtp_settings, user_mail
from tickets.clock import FakeClock


@pytest.mark.parametrize("header", ["X-Ventanilla-Loop", "X-Loop"])
async def test_a_forged_loop_header_from_outside_is_ticketed_without_an_ack(
    header: str, make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    _, raw = user_mail(
        index=1, subject="No puedo renovar", body="Hola, no puedo renovar.\n", when=clock.now(),
        extra=[(header, SUPPORT)],
    )
    result = desk.receive(raw)
    await desk.drain()
    await desk.close()
    assert result.action == "ticketed" and result.ticket_id is not None
    assert outbox_rows(engine, kind="ack") == [] and smtp_sink.delivered_to(USER) == []
    (suppressed,) = events(engine, "ack-suppressed")
    assert suppressed.ticket_id == result.ticket_id and "From is not ours" in suppressed.detail


async def test_our_own_mail_come_back_is_still_ignored_as_a_loop(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    _, raw = user_mail(
        index=2, subject="Re: [#1] Recibido", body="Hemos recibido su consulta.\n", when=clock.now(),
        sender=SUPPORT, name="Soporte", extra=[("X-Ventanilla-Loop", SUPPORT)],
    )
    result = desk.receive(raw)
    await desk.close()
    assert result.action == "ignored" and result.reason.startswith("loop:")
    assert outbox_rows(engine) == []
