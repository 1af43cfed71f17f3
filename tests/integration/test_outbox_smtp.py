"""The outbox drained through a real aiosmtpd sink, on a real database (SQLite and PostgreSQL)."""

import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from config.settings import HelpdeskSettings, OutboundSettings, Settings
from mailer.compose import parse_verp
from mailer.templating import TemplateRenderer
from mailer.transport import FileTransport, SmtpTransport, Transport, TransportPool, make_transport
from tests.conftest import TEST_SECRET
from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.samples import sample_context, sample_shared
from tickets.clock import FakeClock
from tickets.db import read_only, transaction, unit_of_work
from tickets.mail_context import Person, template_values
from tickets.models import Outbox
from tickets.outbox import queries
from tickets.outbox.queries import load_results
from tickets.values import OutgoingEmail
from ventanilla.outbox_cli import app as outbox_app
from ventanilla.pipeline.outgoing import queue_outgoing
from ventanilla.pipeline.sender import MAX_UNRECORDED, OutboxDrainer

HELPDESK = HelpdeskSettings(secret=TEST_SECRET)  # there is no built-in secret
RENDERER = TemplateRenderer()
USER = "maria@example.org"
_NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def outbound(port: int, **extra: Any) -> OutboundSettings:
    return OutboundSettings(kind="smtp", host="127.0.0.1", port=port, security="none", timeout_seconds=5, **extra)


def ack_intent(key: str = "ack:1", to: tuple[str, ...] = (USER,), **context: Any) -> OutgoingEmail:
    ctx = replace(sample_context("ack", _NOW), **context)
    return OutgoingEmail(
        kind="ack",
        ticket_id=None,
        to=to,
        idempotency_key=key,
        language="es",
        auto_submitted="auto-replied",
        in_reply_to="<user-1@example.org>",
        references=("<user-1@example.org>",),
        context=ctx,
    )


def queue(engine: Engine, clock: FakeClock, intent: OutgoingEmail) -> int | None:
    with unit_of_work(engine) as session:
        return queue_outgoing(
            session,
            intent,
            values={**sample_shared(_NOW), **template_values(intent.context)},
            renderer=RENDERER,
            helpdesk=HELPDESK,
            reply_to="soporte+t1.sig@ventanilla.example",
            now=clock.now(),
        )


def row_of(engine: Engine, outbox_id: int) -> Outbox:
    with read_only(engine) as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        return row


def drainer(engine: Engine, transport: Transport, clock: FakeClock, settings: OutboundSettings) -> OutboxDrainer:
    return OutboxDrainer(engine, transport, clock, helpdesk=HELPDESK, outbound=settings, rng=random.Random(3))


async def test_a_queued_ack_reaches_the_sink_once(engine: Engine, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    transport = SmtpTransport(outbound(smtp_sink.port))
    stats = await drainer(engine, transport, clock, outbound(smtp_sink.port)).run_once()
    await transport.close()
    assert stats.sent == 1 and stats.failed == 0
    assert len(smtp_sink.received) == 1
    got = smtp_sink.received[0]
    assert got.rcpt_tos == (USER,)
    assert parse_verp(got.mail_from, HELPDESK.address, HELPDESK.secret.get_secret_value()) == outbox_id
    msg = got.parsed()
    row = row_of(engine, outbox_id)
    assert msg["Message-ID"] == row.message_id
    assert msg["Subject"] == "[#1234] No puedo exportar mi certificado"
    assert msg["From"] == "Soporte Ventanilla <soporte@ventanilla.example>"
    assert msg["To"] == USER and msg["In-Reply-To"] == "<user-1@example.org>"
    assert msg["References"] == "<user-1@example.org>"
    assert msg["Auto-Submitted"] == "auto-replied" and msg["X-Ventanilla-Loop"] == HELPDESK.address
    assert msg["Reply-To"] == "Soporte Ventanilla <soporte+t1.sig@ventanilla.example>"
    plain, html = msg.iter_parts()
    text = str(plain.get_content()).replace("\r\n", "\n")
    assert "Hemos recibido su consulta y la hemos registrado con la referencia [#1234]." in text
    assert "Llame al +34 900 000 000." in text
    assert html.get_content_type() == "text/html" and "<strong>[#1234]</strong>" in str(html.get_content())
    assert row.status == "sent" and row.sent_at == clock.now() and row.attempts == 1
    assert load_results(row.results) == {USER: (250, "250 2.0.0 queued as sink")}
    again = await drainer(engine, transport, clock.advance(hours=1), outbound(smtp_sink.port)).run_once()
    assert again.claimed == 0 and len(smtp_sink.received) == 1


async def test_one_connection_carries_many_messages(engine: Engine, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    for i in range(5):
        queue(engine, clock, ack_intent(key=f"ack:{i}"))
    transport = SmtpTransport(outbound(smtp_sink.port))
    stats = await drainer(engine, transport, clock, outbound(smtp_sink.port)).run_once()
    await transport.close()
    assert stats.sent == 5 and len(smtp_sink.received) == 5 and smtp_sink.connections == 1
    assert len({m.parsed()["Message-ID"] for m in smtp_sink.received}) == 5


async def test_two_connections_send_at_once_and_each_mail_once(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    # `[outbound] connections = 2`: while the first DATA hangs, the other connection sends the rest.
    ids = [queue(engine, clock, ack_intent(key=f"ack:{i}")) for i in range(12)]
    smtp_sink.script("data", "wait 0.5")
    settings = outbound(smtp_sink.port, connections=2)
    transport = make_transport(settings)
    assert isinstance(transport, TransportPool)
    stats = await drainer(engine, transport, clock, settings).run_once()
    await transport.close()
    assert stats.sent == 12 and stats.claimed == 12 and len(smtp_sink.received) == 12
    assert len({m.parsed()["Message-ID"] for m in smtp_sink.received}) == 12
    assert smtp_sink.connections == 2 and len({m.peer for m in smtp_sink.received}) == 2
    assert {row_of(engine, i).status for i in ids if i is not None} == {"sent"}


async def test_two_connections_to_an_unreachable_server_give_every_untried_mail_back(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    ids = [queue(engine, clock, ack_intent(key=f"ack:{i}")) for i in range(6)]
    settings = outbound(free_port, connections=2)
    transport = make_transport(settings)
    sender = drainer(engine, transport, clock, settings)
    stats = await sender.run_once()
    assert stats.deferred and 1 <= stats.retried <= 2 and stats.sent == 0
    with read_only(engine) as session:
        rows = session.exec(select(Outbox)).all()
    assert {r.status for r in rows} == {"queued"} and {r.claimed_by for r in rows} == {""}  # none held
    sink = smtp_sink_factory(port=free_port)
    clock.advance(minutes=5)
    assert (await sender.run_once()).sent == 6
    await transport.close()
    assert len(sink.received) == 6 and {row_of(engine, i).status for i in ids if i is not None} == {"sent"}


async def test_queueing_twice_with_one_key_is_one_row(engine: Engine, clock: FakeClock) -> None:
    first = queue(engine, clock, ack_intent())
    assert first is not None and queue(engine, clock, ack_intent()) is None  # the key was taken: nothing added
    with read_only(engine) as session:
        assert [row.id for row in session.scalars(select(Outbox))] == [first]


async def test_451_twice_then_250_is_delivered_once(engine: Engine, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    smtp_sink.script("data", "451 4.3.0 try again later", "451 4.3.0 try again later")
    outbox_id = queue(engine, clock, ack_intent())
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    assert (await sender.run_once()).retried == 1
    assert (await sender.run_once()).claimed == 0  # not due yet
    row = row_of(engine, outbox_id)
    assert row.status == "queued" and row.attempts == 1 and "451 4.3.0" in row.last_reply
    assert (await sender.run_once()).claimed == 0
    clock.advance(minutes=2)
    assert (await sender.run_once()).retried == 1
    clock.advance(minutes=6)
    assert (await sender.run_once()).sent == 1
    await transport.close()
    assert len(smtp_sink.received) == 1
    row = row_of(engine, outbox_id)
    assert row.status == "sent" and row.attempts == 3


async def test_550_is_failed_with_the_answer_and_not_retried(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    smtp_sink.script("data", "550 5.7.1 message refused by policy")
    outbox_id = queue(engine, clock, ack_intent())
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    assert (await sender.run_once()).failed == 1
    clock.advance(hours=3)
    assert (await sender.run_once()).claimed == 0
    await transport.close()
    row = row_of(engine, outbox_id)
    assert row.status == "failed" and row.last_reply == "550 5.7.1 message refused by policy"
    assert load_results(row.results)[USER][0] == 550
    assert smtp_sink.received == []


async def test_partial_refusal_keeps_per_recipient_results(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse("c@example.org", "550 5.1.1 no such user")
    rcpts = ("a@example.org", "b@example.org", "c@example.org")
    outbox_id = queue(engine, clock, ack_intent(to=rcpts))
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    assert (await sender.run_once()).sent == 1
    clock.advance(hours=2)
    assert (await sender.run_once()).claimed == 0
    await transport.close()
    assert [m.rcpt_tos for m in smtp_sink.received] == [("a@example.org", "b@example.org")]
    assert smtp_sink.rcpt_log.count("c@example.org") == 1
    row = row_of(engine, outbox_id)
    results = load_results(row.results)
    assert row.status == "sent" and "c@example.org" in row.last_reply
    assert results["c@example.org"] == (550, "550 5.1.1 no such user")
    assert results["a@example.org"][0] == results["b@example.org"][0] == 250


async def test_a_temporary_refusal_retries_only_that_recipient(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    smtp_sink.script("rcpt", "250 OK", "250 OK", "450 4.2.1 mailbox busy")  # not for the 3rd
    queue(engine, clock, ack_intent(to=("a@example.org", "b@example.org", "c@example.org")))
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    assert (await sender.run_once()).retried == 1
    clock.advance(minutes=2)
    assert (await sender.run_once()).sent == 1
    await transport.close()
    assert [m.rcpt_tos for m in smtp_sink.received] == [
        ("a@example.org", "b@example.org"),
        ("c@example.org",),
    ]


async def test_connection_refused_waits_and_is_delivered_when_the_server_is_back(
    engine: Engine, clock: FakeClock, free_port: int, smtp_sink_factory: Callable[..., SmtpSink]
) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    transport = SmtpTransport(outbound(free_port))
    sender = drainer(engine, transport, clock, outbound(free_port))
    stats = await sender.run_once()
    assert stats.deferred and stats.retried == 1
    row = row_of(engine, outbox_id)
    assert row.status == "queued" and row.attempts == 1 and "cannot connect" in row.last_reply
    sink = smtp_sink_factory(port=free_port)
    assert (await sender.run_once()).claimed == 0  # waits for its backoff
    clock.advance(minutes=2)
    assert (await sender.run_once()).sent == 1
    await transport.close()
    assert len(sink.received) == 1 and row_of(engine, outbox_id).status == "sent"


async def test_421_at_greeting_is_temporary(engine: Engine, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    for i in range(3):
        queue(engine, clock, ack_intent(key=f"ack:{i}"))
    smtp_sink.script("greeting", "421 4.3.2 too busy, come back later")
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    stats = await sender.run_once()
    assert stats.deferred and stats.retried == 1 and smtp_sink.received == []
    with read_only(engine) as session:
        replies = sorted(r.last_reply for r in session.exec(select(Outbox)))
    assert replies == ["", "", "421 4.3.2 too busy, come back later"]  # the others were not tried
    clock.advance(minutes=2)
    assert (await sender.run_once()).sent == 3
    await transport.close()
    assert len(smtp_sink.received) == 3


async def test_lost_reply_after_data_resends_with_the_same_message_id(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    smtp_sink.script("data", "drop")
    queue(engine, clock, ack_intent())
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    assert (await sender.run_once()).retried == 1  # outcome unknown: never marked failed
    clock.advance(minutes=2)
    assert (await sender.run_once()).sent == 1
    await transport.close()
    ids = [m.parsed()["Message-ID"] for m in smtp_sink.received]
    assert len(ids) == 2 and ids[0] == ids[1]  # the allowed duplicate, recognisable


async def test_expired_mail_gives_up(engine: Engine, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    smtp_sink.script("data", *["451 4.3.0 later"] * 10)
    outbox_id = queue(engine, clock, ack_intent())
    settings = outbound(smtp_sink.port, max_age_hours=1)
    transport = SmtpTransport(settings)
    sender = drainer(engine, transport, clock, settings)
    for _ in range(6):
        await sender.run_once()
        clock.advance(minutes=40)
    await transport.close()
    row = row_of(engine, outbox_id)
    assert row.status == "failed" and row.last_reply.startswith("gave up after 3 attempts: 451")


async def test_never_sent_twice_by_one_process(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    transport = SmtpTransport(outbound(smtp_sink.port))
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    real_write = sender._write

    def database_down(*args: Any) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(sender, "_write", database_down)
    with pytest.raises(ConnectionError):
        await sender.run_once()
    monkeypatch.setattr(sender, "_write", real_write)
    clock.advance(hours=1)  # past the lease: the row is due again
    stats = await sender.run_once()
    await transport.close()
    assert stats.recovered == 1 and stats.sent == 0
    assert len(smtp_sink.received) == 1 and row_of(engine, outbox_id).status == "sent"


async def test_rows_claimed_ahead_are_given_back_at_once_when_the_server_is_down(
    engine: Engine, clock: FakeClock, free_port: int
) -> None:
    ids = [queue(engine, clock, ack_intent(key=f"ack:{i}", to=(f"u{i}@example.org",))) for i in range(25)]
    settings = outbound(free_port)  # nobody listens there
    transport = SmtpTransport(settings)
    sender = OutboxDrainer(engine, transport, clock, helpdesk=HELPDESK, outbound=settings, batch_size=10)
    stats = await sender.run_once()
    await transport.close()
    assert stats.deferred and stats.sent == 0
    rows = [row_of(engine, i) for i in ids]
    tried = [r for r in rows if r.attempts]
    assert len(tried) == 1 and "cannot connect" in tried[0].last_reply
    # The rest of the batch and the batch claimed ahead are due again now, not after the lease.
    assert all(r.status == "queued" and r.next_attempt_at <= clock.now() for r in rows if not r.attempts)


class _Watching:
    """A transport that, before each send, counts rows sent but not yet recorded as sent."""

    def __init__(self, inner: Transport, engine: Engine) -> None:
        self.inner, self.engine = inner, engine
        self.sends, self.unrecorded = 0, [0]

    async def send(self, envelope_from: str, recipients: Any, raw: bytes, *, outbox_id: int | None = None) -> Any:
        with read_only(self.engine) as session:
            recorded = len(list(session.exec(select(Outbox.id).where(Outbox.status == "sent"))))
        self.unrecorded.append(self.sends - recorded)
        self.sends += 1
        return await self.inner.send(envelope_from, recipients, raw, outbox_id=outbox_id)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.parametrize("write_seconds", [0.0, 0.05], ids=["fast-db", "slow-db"])
async def test_outcomes_are_written_in_small_groups_beside_the_sending(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink, write_seconds: float
) -> None:
    n = 60
    for i in range(n):
        queue(engine, clock, ack_intent(key=f"ack:{i}", to=(f"u{i}@example.org",)))
    transport = _Watching(SmtpTransport(outbound(smtp_sink.port)), engine)
    sender = drainer(engine, transport, clock, outbound(smtp_sink.port))
    groups: list[int] = []
    write = sender._write

    def counting(outcomes: Any) -> None:
        groups.append(len(outcomes))
        time.sleep(write_seconds)  # a database slower than the sending (locked by ingest, far away)
        write(outcomes)

    sender._write = counting  # type: ignore[method-assign]
    stats = await sender.run_once()
    await transport.close()
    assert stats.sent == n and len(smtp_sink.received) == n
    with read_only(engine) as session:  # everything is recorded when run_once returns
        assert set(session.exec(select(Outbox.status))) == {"sent"}
    assert sum(groups) == n and len(groups) < n / 2, groups  # grouped, not one transaction a row
    # What a SIGKILL could make us resend (sent, not yet recorded) stays bounded, however slow the
    # database: sending waits for it.
    assert max(transport.unrecorded) <= MAX_UNRECORDED < sender.batch_size, transport.unrecorded


def test_a_late_outcome_never_overwrites_a_bounce(engine: Engine, clock: FakeClock) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    with unit_of_work(engine) as session:
        queries.mark_bounced(session, outbox_id, "550 5.1.1 no such user")
    with transaction(engine) as connection:
        sent = queries.Outcome(outbox_id=outbox_id, status="sent", reply="", results={USER: (250, "250 ok")})
        queries.record_outcomes(connection, [sent])
    row = row_of(engine, outbox_id)
    assert (row.status, row.attempts, row.last_reply) == ("bounced", 0, "550 5.1.1 no such user")


async def test_crlf_in_subject_and_script_in_name_inject_nothing(
    engine: Engine, clock: FakeClock, smtp_sink: SmtpSink
) -> None:
    subject = str(make_header(decode_header("=?UTF-8?Q?hi=0D=0ABcc:_v@x?=")))
    context = sample_context("ack", _NOW)
    intent = ack_intent(
        ticket=replace(context.ticket, subject=subject),  # type: ignore[union-attr]
        requester=Person(name="<script>alert(1)</script>", email=USER),
    )
    queue(engine, clock, intent)
    transport = SmtpTransport(outbound(smtp_sink.port))
    await drainer(engine, transport, clock, outbound(smtp_sink.port)).run_once()
    await transport.close()
    assert smtp_sink.rcpt_log == [USER]
    raw = smtp_sink.received[0].raw
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in (" ", "\t")]
    assert names.count("subject") == 1 and "bcc" not in names and "cc" not in names
    msg = smtp_sink.received[0].parsed()
    assert msg["Subject"] == "[#1234] hi Bcc: v@x"
    html = str(list(msg.iter_parts())[1].get_content())
    assert "&lt;script&gt;" in html and "<script>" not in html


async def test_file_transport_writes_a_parseable_eml(engine: Engine, clock: FakeClock, tmp_path: Path) -> None:
    outbox_id = queue(engine, clock, ack_intent())
    folder = tmp_path / "outbox"
    settings = OutboundSettings(kind="file", path=str(folder))
    stats = await drainer(engine, FileTransport(folder), clock, settings).run_once()
    assert stats.sent == 1
    assert [p.name for p in folder.iterdir()] == [f"{outbox_id}.eml"]
    msg = message_from_bytes((folder / f"{outbox_id}.eml").read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == row_of(engine, outbox_id).message_id
    assert msg.get_content_type() == "multipart/alternative"
    assert row_of(engine, outbox_id).status == "sent"


def test_cli_list_retry_flush(engine: Engine, clock: FakeClock, smtp_sink: SmtpSink) -> None:
    smtp_sink.script("data", "554 5.6.0 message content rejected")
    outbox_id = queue(engine, clock, ack_intent())
    settings = Settings(outbound=outbound(smtp_sink.port), helpdesk=HELPDESK)
    obj = SimpleNamespace(settings=settings, settings_with_secret=settings, engine=engine, clock=clock)
    runner = CliRunner()
    flushed = runner.invoke(outbox_app, ["flush"], obj=obj)
    assert flushed.exit_code == 1 and "1 failed" in flushed.output
    listed = runner.invoke(outbox_app, ["list", "--status", "failed", "--json"], obj=obj)
    assert listed.exit_code == 0 and f'"id": {outbox_id}' in listed.output and "554 5.6.0" in listed.output
    assert runner.invoke(outbox_app, ["retry", str(outbox_id)], obj=obj).exit_code == 0
    flushed = runner.invoke(outbox_app, ["flush"], obj=obj)
    assert flushed.exit_code == 0 and "1 sent" in flushed.output
    assert runner.invoke(outbox_app, ["retry", str(outbox_id)], obj=obj).exit_code == 1  # sent
    assert runner.invoke(outbox_app, ["list"], obj=obj).exit_code == 0
    assert len(smtp_sink.received) == 1
