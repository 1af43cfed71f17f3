"""Mail loops, end to end: two helpdesks answering each other, floods, our own address.

Real Ingestor and OutboxDrainer wired as the worker wires them, a real aiosmtpd sink, SQLite and
PostgreSQL. The "peer" is simulated in the test: it answers every message of ours that reaches
the sink for it, built from that very message, and its answers are fed back to our Ingestor.
"""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import Received, SmtpSink
from tests.integration.test_ack_delivery import SUPPORT, Desk, events, outbox_rows, smtp_settings, user_mail
from tickets.clock import FakeClock
from tickets.db import read_only
from tickets.models import Outbox, Ticket

PEER = "ayuda@otro-helpdesk.example"
MAX_ROUNDS = 12

PeerReply = Callable[[Received, int], bytes]


def peer_message(headers: dict[str, str], body: str) -> bytes:
    msg = EmailMessage()
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return bytes(msg)


def auto_replied(ours: Received, n: int) -> bytes:
    """A peer helpdesk's acknowledgement of our ack, as RFC 3834 asks: marked, threaded, to us."""
    got = ours.parsed()
    return peer_message(
        {
            "From": f"Otro Helpdesk <{PEER}>",
            "To": str(got["Reply-To"]),
            "Subject": f"Re: {got['Subject']}",
            "Date": format_datetime(ours_date(got)),
            "Message-ID": make_msgid(f"peer{n}", "otro-helpdesk.example"),
            "In-Reply-To": str(got["Message-ID"]),
            "References": str(got["Message-ID"]),
            "Auto-Submitted": "auto-replied",
        },
        f"Hemos recibido su mensaje y lo hemos registrado con la referencia PEER-{n}.\n",
    )


def naive_subject(ours: Received, n: int) -> bytes:
    """A fully naive peer: no Auto-Submitted, no Precedence, no thread headers; `Re: <our subject>`."""
    got = ours.parsed()
    return peer_message(
        {
            "From": f"Otro Helpdesk <{PEER}>",
            "To": SUPPORT,
            "Subject": f"Re: {got['Subject']}",
            "Date": format_datetime(ours_date(got)),
            "Message-ID": make_msgid(f"peer{n}", "otro-helpdesk.example"),
        },
        f"Hemos recibido su mensaje (PEER-{n}). Le responderemos pronto.\n",
    )


def naive_in_reply_to(ours: Received, n: int) -> bytes:
    """A naive peer that threads (In-Reply-To our ack) but uses its own subject, unmarked."""
    got = ours.parsed()
    return peer_message(
        {
            "From": f"Otro Helpdesk <{PEER}>",
            "To": SUPPORT,
            "Subject": f"Solicitud PEER-{n} recibida",
            "Date": format_datetime(ours_date(got)),
            "Message-ID": make_msgid(f"peer{n}", "otro-helpdesk.example"),
            "In-Reply-To": str(got["Message-ID"]),
        },
        f"Su solicitud PEER-{n} ha sido registrada.\n",
    )


def naive_fresh(ours: Received, n: int) -> bytes:
    """The worst peer: every answer is a brand-new, unmarked, unthreaded message."""
    got = ours.parsed()
    return peer_message(
        {
            "From": f"Otro Helpdesk <{PEER}>",
            "To": SUPPORT,
            "Subject": f"Solicitud PEER-{n} recibida",
            "Date": format_datetime(ours_date(got)),
            "Message-ID": make_msgid(f"peer{n}", "otro-helpdesk.example"),
        },
        f"Su solicitud PEER-{n} ha sido registrada. Le contestaremos en breve.\n",
    )


def vacation_to_envelope_sender(ours: Received, n: int) -> bytes:
    """An out-of-office reply sent, as RFC 3834 3.1.1 says, to our envelope sender (VERP)."""
    got = ours.parsed()
    return peer_message(
        {
            "Return-Path": "<>",
            "From": f"Otro Helpdesk <{PEER}>",
            "To": ours.mail_from,
            "Subject": f"Fuera de la oficina: {got['Subject']}",
            "Date": format_datetime(ours_date(got)),
            "Message-ID": make_msgid(f"vac{n}", "otro-helpdesk.example"),
            "In-Reply-To": str(got["Message-ID"]),
            "Auto-Submitted": "auto-replied",
        },
        "Estaré fuera de la oficina hasta el lunes.\n",
    )


def ours_date(got: EmailMessage) -> datetime:
    date: Any = got["Date"]  # a DateHeader under policy.default
    return date.datetime


async def play(desk: Desk, sink: SmtpSink, answer: PeerReply) -> list[str]:
    """The peer writes first; then it answers every mail of ours it gets until none come.

    Returns the action our Ingestor took for each of the peer's answers.
    """
    _, first = user_mail(
        index=0,
        sender=PEER,
        name="Otro Helpdesk",
        when=desk.clock.now(),
        subject="Consulta sobre certificados de empresa",
        body="Buenos días,\n\n¿Emiten certificados de representante para sociedades?\n\nUn saludo\n",
    )
    assert desk.receive(first).action == "ticketed"
    await desk.drain()
    answered = 0
    actions: list[str] = []
    for _ in range(MAX_ROUNDS):
        mine = sink.delivered_to(PEER)
        if answered == len(mine):
            break
        for ours in mine[answered:]:
            answered += 1
            desk.clock.advance(seconds=20)
            actions.append(desk.receive(answer(ours, answered)).action)
        desk.clock.advance(seconds=20)
        await desk.drain()
    else:
        pytest.fail(f"the exchange did not stop after {MAX_ROUNDS} rounds")
    await desk.close()
    return actions


def ticket_count(engine: Engine) -> int:
    with read_only(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


# -- (a) two helpdesks answering each other ------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "action"),
    [(auto_replied, "attached"), (naive_subject, "followup"), (naive_in_reply_to, "followup")],
    ids=["auto-replied", "naive-subject", "naive-in-reply-to"],
)
async def test_two_helpdesks_stop_after_our_first_ack(
    answer: PeerReply,
    action: str,
    make_settings,
    db_url: str,
    engine: Engine,
    clock: FakeClock,
    smtp_sink: SmtpSink,
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    actions = await play(desk, smtp_sink, answer)
    to_peer = smtp_sink.delivered_to(PEER)
    assert len(to_peer) == 1, [m.parsed()["Subject"] for m in to_peer]
    assert to_peer[0].parsed()["Auto-Submitted"] == "auto-replied"
    assert actions == [action]  # the peer's answer joined ticket #1; it was not acknowledged
    assert ticket_count(engine) == 1
    assert [r.recipients for r in outbox_rows(engine, kind="ack")] == [PEER]


async def test_a_peer_that_always_opens_new_threads_gets_at_most_the_hourly_cap(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    cap = desk.settings.outbound.acks_per_sender_per_hour
    actions = await play(desk, smtp_sink, naive_fresh)
    assert len(smtp_sink.delivered_to(PEER)) == cap == 5
    assert actions == ["ticketed"] * cap  # the last of them was ticketed without an answer
    suppressed = events(engine, "ack-suppressed")
    assert len(suppressed) == 1 and "rate limit" in suppressed[0].detail


# -- (b) a flood from one sender -----------------------------------------------------------


async def test_a_flood_of_50_messages_in_an_hour_gets_5_acks(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    sender = "flood@example.net"
    start = clock.now()
    for i in range(50):
        _, raw = user_mail(
            index=i,
            sender=sender,
            name="Flood",
            when=clock.now(),
            subject=f"Certificado caducado, consulta {i}",
            body=f"Mi certificado caduca mañana, ¿cómo lo renuevo? Consulta número {i}.\n",
        )
        assert desk.receive(raw).action == "ticketed"
        if i % 10 == 9:
            await desk.drain()
        clock.advance(seconds=70)  # 50 messages in 58 minutes
    await desk.drain()
    assert clock.now() - start < timedelta(hours=1)

    assert ticket_count(engine) == 50
    acks = smtp_sink.delivered_to(sender)
    assert len(acks) == 5
    assert len({m.parsed()["Subject"] for m in acks}) == 5
    suppressed = events(engine, "ack-suppressed")
    assert len(suppressed) == 45
    assert all("rate limit" in e.detail for e in suppressed)
    acked_tickets = {r.ticket_id for r in outbox_rows(engine, kind="ack")}
    assert acked_tickets.isdisjoint({e.ticket_id for e in suppressed})
    assert len(acked_tickets) + len({e.ticket_id for e in suppressed}) == 50

    # The cap is per hour: once the first five acks are an hour old, the sender is answered again.
    clock.set(max(r.created_at for r in outbox_rows(engine, kind="ack")).replace(tzinfo=start.tzinfo))
    clock.advance(hours=1, seconds=1)
    _, raw = user_mail(
        index=99, sender=sender, name="Flood", when=clock.now(), subject="Otra consulta", body="¿Siguen ahí?\n"
    )
    assert desk.receive(raw).action == "ticketed"
    await desk.drain()
    await desk.close()
    assert len(smtp_sink.delivered_to(sender)) == 6


# -- (c) our own address -------------------------------------------------------------------

OWN_ALIAS = "info@ventanilla.example"
OWN = re.compile(r"^(soporte(\+[^@]*)?|info)@ventanilla\.example$", re.IGNORECASE)


@pytest.mark.parametrize(
    ("sender", "to"),
    [
        (f"Soporte Ventanilla <{SUPPORT}>", SUPPORT),
        ("Soporte <Soporte@Ventanilla.EXAMPLE>", SUPPORT),
        (f"Info <{OWN_ALIAS}>", OWN_ALIAS),
        (f"Info <{OWN_ALIAS}>", SUPPORT),
        (f"Soporte <{SUPPORT}>", f"{OWN_ALIAS}, {SUPPORT}"),
        pytest.param(
            "Soporte <soporte+ventas@ventanilla.example>",
            SUPPORT,
            id="self-subaddress",
        ),
    ],
    ids=["self", "self-case", "alias-to-alias", "alias-to-support", "self-to-both", "self-subaddress"],
)
async def test_mail_from_our_own_address_is_never_answered(
    sender: str, to: str, make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    settings = smtp_settings(make_settings, db_url, smtp_sink.port)
    helpdesk = settings.helpdesk.model_copy(update={"own_addresses": [OWN_ALIAS]})
    settings = settings.model_copy(update={"helpdesk": helpdesk})
    desk = Desk(settings, engine, clock)
    raw = peer_message(
        {
            "From": sender,
            "To": to,
            "Subject": "Prueba de envío",
            "Date": format_datetime(clock.now()),
            "Message-ID": make_msgid("self", "ventanilla.example"),
        },
        "Un mensaje que nos llega de nosotros mismos.\n",
    )
    desk.receive(raw)
    await desk.drain()
    await desk.close()
    assert not [r for r in smtp_sink.rcpt_log if OWN.match(r)], smtp_sink.rcpt_log
    with read_only(engine) as session:
        rows = list(session.scalars(select(Outbox)))
    assert not [r for r in rows if any(OWN.match(a) for a in r.recipients.split(","))]
    assert outbox_rows(engine, kind="ack") == []


async def test_an_auto_reply_to_our_envelope_sender_is_not_a_bounce(
    make_settings, db_url: str, engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
    actions = await play(desk, smtp_sink, vacation_to_envelope_sender)
    assert len(smtp_sink.delivered_to(PEER)) == 1 and actions == ["attached"]  # the loop does stop
    (ack,) = outbox_rows(engine, kind="ack")
    with read_only(engine) as session:
        ticket = session.get(Ticket, ack.ticket_id)
        assert ticket is not None
        undeliverable = ticket.requester_undeliverable
    assert (ack.status, undeliverable) == ("sent", False), ack.last_reply  # an absence is no bounce
