"""Issue 12 item 9: Exchange/Outlook out-of-office replies without Auto-Submitted are recorded and
never acknowledged; an ordinary Outlook mail (X-Auto-Response-Suppress: All) still is (C25)."""


from sqlalchemy.engine import Engine

from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.integration.test_ack_delivery import USER, Desk, outbox_rows, raw_mail, smtp_settings
from tickets.clock import FakeClock

OUTLOOK = [
    ("Thread-Topic", "Renovar mi certificado"),
    ("Thread-Index", "AQHZ0o3Y5vR0v2Ckzk2vY0bJ5d8k3Q=="),
    ("X-MS-Has-Attach", ""),
    ("X-Auto-Response-Suppress", "All"),
    ("Content-Language", "es-ES"),
]


def outlook(n: int, subject: str, *extra: tuple[str, str]) -> bytes:
    headers = [
        ("From", f"María Pérez <{USER}>"),
        ("To", "soporte@ventanilla.example"),
        ("Subject", subject),
        ("Date", "Mon, 05 Oct 2026 09:00:00 +0000"),
        ("Message-ID", f"<oof{n}@EXCH01.example.org>"),
        *OUTLOOK,
        *extra,
    ]
    return raw_mail(headers, "Estaré fuera de la oficina hasta el lunes 12.\n")


async def test_exchange_out_of_office_replies_are_never_acknowledged(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    oofs = [
        outlook(1, "=?utf-8?Q?Respuesta_autom=C3=A1tica:_Renovar_mi_certificado?="),
        outlook(2, "Automatic reply: Renovar mi certificado"),
        outlook(3, "Fuera de la oficina: Renovar mi certificado"),
        outlook(4, "Out of Office: Renovar mi certificado"),
        outlook(5, "Renovar mi certificado", ("X-MS-Exchange-Inbox-Rules-Loop", USER)),
    ]
    results = []
    for raw in oofs:
        clock.advance(minutes=1)
        results.append(desk.receive(raw))
    await desk.drain()
    await desk.close()
    assert [r.action for r in results] == ["ignored"] * 5  # recorded (receipt + raw), no ticket
    assert all("auto-reply" in r.reason for r in results)
    assert outbox_rows(engine, kind="ack") == [] and smtp_sink.received == []


async def test_an_out_of_office_reply_to_our_ack_joins_the_ticket_without_an_ack(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    first = desk.receive(outlook(1, "Renovar mi certificado"))  # an ordinary Outlook mail: C25
    assert first.action == "ticketed"
    await desk.drain()
    (ack,) = smtp_sink.delivered_to(USER)
    got = ack.parsed()
    clock.advance(minutes=5)
    oof = outlook(
        2, f"Automatic reply: {got['Subject']}", ("In-Reply-To", str(got["Message-ID"])),
        ("References", str(got["Message-ID"])),
    )
    result = desk.receive(oof)
    clock.advance(minutes=5)
    await desk.drain()
    await desk.close()
    assert result.action == "attached" and result.ticket_id == first.ticket_id
    assert len(outbox_rows(engine, kind="ack")) == 1 and len(smtp_sink.delivered_to(USER)) == 1
