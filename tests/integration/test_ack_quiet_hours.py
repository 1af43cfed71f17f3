"""The acknowledgement's phone paragraph names last month's quietest hours, given 200 calls or more."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from config.settings import Settings
from tickets.clock import FakeClock
from tickets.db import read_only, unit_of_work
from tickets.models import Outbox
from tickets.phone.models import Call
from ventanilla.app import App
from ventanilla.spooling import spool_raw
from ventanilla.wiring import make_ingestor

ZONE = ZoneInfo("Europe/Madrid")
# Half hours of September 2026 whose calls wait little: the report's quiet windows.
QUIET = {"08:00", "08:30", "09:00", "09:30", "10:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00",
         "16:30", "18:00", "18:30"}
SLOTS = [f"{h:02d}:{m:02d}" for h in range(8, 19) for m in (0, 30)]  # 08:00 .. 18:30: 22 half hours


def log_calls(engine: Engine, total: int, *, line: str = "general", month_start: datetime) -> None:
    with unit_of_work(engine) as session:
        for n in range(total):
            slot = SLOTS[n % len(SLOTS)]
            day = month_start + timedelta(days=1 + (n // len(SLOTS)) % 25)
            local = day.replace(hour=int(slot[:2]), minute=int(slot[3:]) + 5)
            session.add(
                Call(
                    started_at=local.astimezone(UTC),
                    line=line,
                    outcome="answered",
                    wait_seconds=30 if slot in QUIET else 300,
                    caller_phone=f"+34 600 {n:06d}",
                    recorded_at=local.astimezone(UTC),
                )
            )


def acknowledge(settings: Settings, engine: Engine, clock: FakeClock) -> str:
    ingestor = make_ingestor(App(settings, engine, clock), parse_processes=0)
    raw = (
        b"From: Ana <ana@example.org>\r\nTo: soporte@ventanilla.example\r\nSubject: Renovar\r\n"
        b"Message-ID: <q1@example.org>\r\nDate: Mon, 5 Oct 2026 09:00:00 +0000\r\n\r\n"
        b"Hola, no puedo renovar mi certificado, que caduca pronto.\r\n"
    )
    try:
        receipt = spool_raw(ingestor, "pipe", raw, clock.now())
        ingestor.process_batch([receipt])
    finally:
        ingestor.close()
    with read_only(engine) as session:
        ack = session.scalars(select(Outbox).where(Outbox.kind == "ack")).one()
    message = message_from_bytes(ack.raw, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text + "\n" + html


@pytest.mark.parametrize(
    ("calls", "line", "said"), [(220, "general", True), (199, "general", False), (400, "revocation", False)]
)
def test_quiet_hours_are_named_with_enough_calls_on_the_general_line(  # type: ignore[no-untyped-def]
    make_settings: Callable[..., Settings], db_url: str, engine: Engine, clock: FakeClock, calls, line, said
) -> None:
    log_calls(engine, calls, line=line, month_start=datetime(2026, 9, 1, tzinfo=ZONE))
    log_calls(engine, 300, month_start=datetime(2026, 10, 1, tzinfo=ZONE))  # this month's: not complete, not read
    body = acknowledge(make_settings(db_url=db_url), engine, clock)
    sentence = "Para esperar menos, llame entre 08:00 y 10:30, entre 13:30 y 17:00 o entre 18:00 y 19:00."
    assert (body.count(sentence) == 2) is said  # in the text and in the HTML part
    assert ("Para esperar menos" in body) is said
