"""The acknowledgement end to end: real Ingestor -> outbox -> real OutboxDrainer -> aiosmtpd sink.

Everything is wired as the worker wires it (`make_ingestor`, `make_drainer`) with settings whose
[outbound] points at an in-process aiosmtpd sink; SQLite and PostgreSQL; no mocks. What
`test_outbox_smtp.py` already proves with hand-built intents (451/550/partial refusal, lost reply,
expiry, CLI) is not repeated: here the mail is what the pipeline itself produced.
"""

import re
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from config.settings import OutboundSettings, Settings
from mailer.compose import parse_verp
from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import Received, SmtpSink
from tickets.clock import FakeClock
from tickets.db import make_engine, read_only
from tickets.models import Event, Outbox, Ticket
from tickets.values import IngestResult, ReceiptKey
from ventanilla.app import App
from ventanilla.pipeline.sender import OutboxDrainer
from ventanilla.wiring import make_drainer, make_ingestor

SUPPORT = "soporte@ventanilla.example"
SUPPORT_FROM = "Soporte Ventanilla <soporte@ventanilla.example>"
USER = "maria.perez@example.org"
PHONE = "+34 900 000 000"
REVOCATION = "+34 900 000 024"


# -- helpers shared with test_loops.py ----------------------------------------------------


def smtp_settings(make_settings: Callable[..., Settings], db_url: str, port: int, **extra: object) -> Settings:
    """The embedded default settings with [outbound] = the sink on 127.0.0.1:`port`, no TLS."""
    outbound = OutboundSettings(kind="smtp", host="127.0.0.1", port=port, security="none", timeout_seconds=5, **extra)
    return make_settings(db_url=db_url, outbound=outbound)


def raw_mail(headers: list[tuple[str, str]], body: str) -> bytes:
    """Hand-written wire bytes: the headers exactly as given (encoded-words stay encoded)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    tail = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    return (head + tail + "\r\n" + body.replace("\n", "\r\n")).encode("utf-8")


def user_mail(
    *,
    index: int,
    subject: str,
    body: str,
    when: datetime,
    sender: str = USER,
    name: str = "María Pérez",
    extra: list[tuple[str, str]] | None = None,
) -> tuple[str, bytes]:
    """(Message-ID, raw) of a person's message to support, built with the email package."""
    msg = EmailMessage()
    local, _, domain = sender.partition("@")
    message_id = f"<u{index}.{local}@{domain}>"
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    for header, value in extra or []:
        msg[header] = value
    msg.set_content(body)
    return message_id, bytes(msg)


class Desk:
    """One helpdesk process as the worker builds it: an ingestor and a drainer on one engine."""

    def __init__(self, settings: Settings, engine: Engine, clock: FakeClock) -> None:
        self.settings, self.engine, self.clock = settings, engine, clock
        self.ingestor = make_ingestor(App(settings, engine, clock))
        self.drainer: OutboxDrainer = make_drainer(settings, engine, clock)
        self._uid = 0

    def receive(self, raw: bytes) -> IngestResult:
        self._uid += 1
        key = ReceiptKey(mailbox="INBOX", uidvalidity=1, uid=self._uid)
        return self.ingestor.process(key, raw, self.clock.now())

    async def drain(self) -> None:
        await self.drainer.run_once()

    async def close(self) -> None:
        await self.drainer.transport.close()


def outbox_rows(engine: Engine, **where: object) -> list[Outbox]:
    with read_only(engine) as session:
        query = select(Outbox).order_by(Outbox.id)
        for name, value in where.items():
            query = query.where(getattr(Outbox, name) == value)
        return list(session.scalars(query))


def events(engine: Engine, kind: str) -> list[Event]:
    with read_only(engine) as session:
        return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def header_lines(raw: bytes) -> list[str]:
    """The header section's physical lines (CRLF-separated), as sent."""
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def header_names(raw: bytes) -> list[str]:
    return [line.split(":", 1)[0].lower() for line in header_lines(raw) if line[:1] not in (" ", "\t")]


def parts(received: Received) -> tuple[str, str]:
    """(text, html) of a multipart/alternative message, decoded, LF line ends."""
    msg = received.parsed()
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = list(msg.iter_parts())
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    return (
        str(plain.get_content()).replace("\r\n", "\n"),
        str(html.get_content()).replace("\r\n", "\n"),
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- (a) the acknowledgement as the user gets it -------------------------------------------

LANGUAGES = {
    "es": {
        "subject": "No puedo descargar mi certificado",
        "body": (
            "Hola,\n\nSolicité el certificado de persona física y al descargarlo el navegador dice que "
            "el código de solicitud no es válido. ¿Qué puedo hacer?\n\nGracias,\nMaría\n"
        ),
        "text": [
            "Hola María Pérez:",
            "Hemos recibido su consulta y la hemos registrado con la referencia [#{id}].",
            "en un plazo de 24 horas",
            f"¿Es urgente? Llame al {PHONE}.",
            "Horario del teléfono hoy: 08:00–19:00. Ahora está abierto.",
            f"llame al {REVOCATION}, disponible las 24 horas, todos los días del año.",
            "Soporte Ventanilla",
        ],
        "html": [
            "<strong>[#{id}]</strong>",
            "<strong>24 horas</strong>",
            'href="tel:+34900000000"',
            'href="tel:+34900000024"',
            '<html lang="es">',
        ],
    },
    "en": {
        "subject": "Cannot install my certificate",
        "body": (
            "Hello,\n\nI requested my certificate yesterday and now the browser says that the "
            "certificate request was not found. What should I do?\n\nThank you,\nMary\n"
        ),
        "text": [
            "Hello María Pérez,",
            "We have received your enquiry and registered it as [#{id}].",
            "within 24 hours",
            f"Is it urgent? Call {PHONE}.",
            "Phone line hours today: 08:00–19:00. It is open now.",
            f"call {REVOCATION}, open 24 hours a day, every day of the year.",
            "Soporte Ventanilla",
        ],
        "html": [
            "<strong>[#{id}]</strong>",
            "<strong>24 hours</strong>",
            'href="tel:+34900000000"',
            'href="tel:+34900000024"',
            '<html lang="en">',
        ],
    },
}


@pytest.mark.parametrize("language", ["es", "en"])
async def test_new_ticket_gets_exactly_one_ack_in_the_users_language(
    language: str, make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    case = LANGUAGES[language]
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    user_id, raw = user_mail(index=1, subject=case["subject"], body=case["body"], when=clock.now())
    result = desk.receive(raw)
    assert result.action == "ticketed" and result.ticket_id is not None
    ticket_id = result.ticket_id
    await desk.drain()

    acks = smtp_sink.delivered_to(USER)
    assert len(acks) == 1, [m.rcpt_tos for m in smtp_sink.received]
    ack = acks[0]
    assert ack.rcpt_tos == (USER,)  # the agents' notifications travel separately
    assert all(USER not in m.rcpt_tos for m in smtp_sink.received if m is not ack)
    (row,) = outbox_rows(engine, kind="ack")
    assert row.status == "sent" and row.ticket_id == ticket_id
    secret = desk.settings.helpdesk.secret.get_secret_value()
    assert parse_verp(ack.mail_from, SUPPORT, secret) == row.id  # the signed VERP envelope sender
    assert ack.mail_from.startswith(f"soporte+b{row.id}.")

    msg = ack.parsed()
    assert msg["From"] == SUPPORT_FROM and msg["To"] == USER
    assert msg["Subject"] == f"[#{ticket_id}] {case['subject']}"
    assert msg["Message-ID"] == row.message_id
    assert msg["In-Reply-To"] == user_id and msg["References"] == user_id
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Ventanilla-Loop"] == SUPPORT
    assert msg["Reply-To"] == SUPPORT_FROM
    assert msg["Content-Language"] == language
    text, html = parts(ack)
    flat = one_line(text)
    for expected in case["text"]:
        assert one_line(expected.format(id=ticket_id)) in flat, (expected, text)
    for expected in case["html"]:
        assert expected.format(id=ticket_id) in html, (expected, html)
    with read_only(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.language == language

    # Replying to the ack (to its Reply-To, threaded under it) lands in the same ticket.
    _, reply = user_mail(
        index=2,
        subject=f"Re: {msg['Subject']}",
        body="Adjunto más datos.\n",
        when=clock.now(),
        extra=[("In-Reply-To", row.message_id), ("References", f"{user_id} {row.message_id}")],
    )
    followup = desk.receive(reply)
    assert (followup.action, followup.ticket_id) == ("followup", ticket_id)
    await desk.drain()
    await desk.close()
    assert len(smtp_sink.delivered_to(USER)) == 1  # a follow-up is not acknowledged again


# -- (b) the server is down for a while ----------------------------------------------------


async def test_ack_waits_while_the_server_is_down_and_is_delivered_once_when_it_is_back(
    make_settings,
    db_url: str,
    engine: Engine,
    clock: FakeClock,
    free_port: int,
    smtp_sink_factory: Callable[..., SmtpSink],
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, free_port), engine, clock)
    case = LANGUAGES["es"]
    result = desk.receive(user_mail(index=1, subject=case["subject"], body=case["body"], when=clock.now())[1])
    (ack,) = outbox_rows(engine, kind="ack")
    queued_total = len(outbox_rows(engine))

    await desk.drain()  # pass 1: connection refused
    clock.advance(minutes=2)  # past the first backoff (1 min +/- 20 %) and the circuit breaker
    await desk.drain()  # pass 2: still refused
    rows = outbox_rows(engine)
    assert all(r.status == "queued" for r in rows)
    # Each pass tries one row and gives the rest of its claim back untouched: the tried row waits
    # for its backoff behind those, so a long outage rotates the attempts over the queue.
    assert sum(r.attempts for r in rows) == 2 and all("cannot connect" in r.last_reply for r in rows if r.attempts)
    refused_before = next(r.attempts for r in rows if r.id == ack.id)
    assert refused_before >= 1

    sink = smtp_sink_factory(port=free_port)  # the server comes back on the same port
    for _ in range(3):
        clock.advance(minutes=7)  # past any backoff so far (5 min +/- 20 %)
        await desk.drain()
    clock.advance(hours=2)
    await desk.drain()  # nothing is due any more: nothing is sent again
    await desk.close()
    delivered = sink.delivered_to(USER)
    assert len(delivered) == 1 and delivered[0].parsed()["Message-ID"] == ack.message_id
    assert delivered[0].parsed()["Subject"] == f"[#{result.ticket_id}] {case['subject']}"
    assert len(sink.received) == queued_total  # the agents' notifications: also once each
    row = outbox_rows(engine, kind="ack")[0]
    assert row.status == "sent" and row.attempts == refused_before + 1


# -- (c) killed between rendering and sending ----------------------------------------------


async def test_ack_committed_before_a_crash_is_sent_once_after_restart(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    settings = smtp_settings(make_settings, db_url, smtp_sink.port)
    case = LANGUAGES["en"]
    user_id, raw = user_mail(index=1, subject=case["subject"], body=case["body"], when=clock.now())
    result = make_ingestor(App(settings, engine, clock)).process(
        ReceiptKey(mailbox="INBOX", uidvalidity=1, uid=1), raw, clock.now()
    )
    engine.dispose()  # the process dies here: the ack is rendered and committed, no drainer ran
    (queued,) = outbox_rows(engine, kind="ack")
    assert queued.status == "queued" and queued.attempts == 0 and smtp_sink.received == []

    clock.advance(seconds=40)  # the restart
    restarted_engine = make_engine(db_url)
    try:
        restarted = make_drainer(settings, restarted_engine, clock)
        first = await restarted.run_once()
        assert first.sent == len(outbox_rows(restarted_engine)) and first.failed == 0
        again = await restarted.run_once()  # the same process drains again
        await restarted.transport.close()
        clock.advance(hours=1)  # past any lease: a third drainer, after another restart
        third = make_drainer(settings, restarted_engine, clock)
        later = await third.run_once()
        await third.transport.close()
    finally:
        restarted_engine.dispose()
    assert again.claimed == 0 and later.claimed == 0 and later.sent == 0
    delivered = smtp_sink.delivered_to(USER)
    assert len(delivered) == 1
    msg = delivered[0].parsed()
    assert msg["Message-ID"] == queued.message_id  # generated once, before the crash
    assert msg["In-Reply-To"] == user_id and msg["Subject"] == f"[#{result.ticket_id}] {case['subject']}"
    assert outbox_rows(engine, kind="ack")[0].status == "sent"


# -- (d) header injection and HTML in what the user wrote ----------------------------------

INJECTED_SUBJECT = "=?UTF-8?Q?Certificado=0D=0ABcc:_victim@x?="
NAMES = {
    "quoted": '"<script>alert(1)</script>"',
    # RFC 2047 in a phrase: every special encoded ("<script>alert(1)</script>\r\nBcc: victim@x")
    "encoded-word": "=?UTF-8?Q?=3Cscript=3Ealert=281=29=3C=2Fscript=3E=0D=0ABcc=3A_victim=40x?=",
}


@pytest.mark.parametrize("name_form", sorted(NAMES))
async def test_crlf_and_script_from_the_users_mail_inject_nothing_into_the_ack(
    name_form: str, make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    raw = raw_mail(
        [
            ("From", f"{NAMES[name_form]} <{USER}>"),
            ("To", SUPPORT),
            ("Subject", INJECTED_SUBJECT),
            ("Date", format_datetime(clock.now())),
            ("Message-ID", "<inject-1@example.org>"),
        ],
        "Hola, no puedo descargar mi certificado.\n",
    )
    result = desk.receive(raw)
    assert result.action == "ticketed"
    await desk.drain()
    await desk.close()

    assert "victim@x" not in smtp_sink.rcpt_log  # no extra envelope recipient, in any message
    acks = smtp_sink.delivered_to(USER)
    assert len(acks) == 1 and acks[0].rcpt_tos == (USER,)
    ack = acks[0]
    names = header_names(ack.raw)
    assert "bcc" not in names and "cc" not in names
    for single in ("from", "to", "subject", "reply-to", "message-id", "in-reply-to"):
        assert names.count(single) == 1, (single, names)
    for line in header_lines(ack.raw):
        assert not re.match(r"(?i)\s*bcc\s*:", line), line
    msg = ack.parsed()
    for header, value in msg.items():
        assert "\r" not in str(value) and "\n" not in str(value), (header, value)
    assert msg["Subject"] == f"[#{result.ticket_id}] Certificado Bcc: victim@x"
    assert msg["To"] == USER
    text, html = parts(ack)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    assert "<script>alert(1)</script>" in text  # plain text is not HTML: shown as written
