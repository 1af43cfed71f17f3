"""Outbox sending benchmark: the real sender vs raw aiosmtplib on one reused connection, in one run.

    python -m bench.outbox [-n 5000] [--batch 20] [--rounds 5]

Renders N acknowledgements through the real TemplateRenderer and queues them with
`ventanilla.pipeline.outgoing.queue_outgoing` into a temporary SQLite database, then sends them to a local
aiosmtpd sink (127.0.0.1 only, in a child process so that its CPU does not share our GIL) in two
ways, on the same bytes, envelope senders and recipients:

  (a) raw: one aiosmtplib connection, `sendmail` in a loop (nothing else);
  (b) real: `OutboxDrainer.run_once` with `SmtpTransport` (claims, database writes of every
      outcome, VERP envelope, per-recipient results), as `ventanilla.wiring.make_drainer` builds it.

The two alternate in rounds (each round: its share raw, then the same share through the drainer,
the other rows parked in the future), so that the drift of a shared machine falls on both alike.
Prints each round and the whole run in msg/s and (b)/(a); the target is >= 0.70. The sink counts
what it took, and the run fails if either way lost or duplicated a message.
"""

import argparse
import asyncio
import multiprocessing
import secrets
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlmodel import select  # noqa: E402

from config.settings import HelpdeskSettings, OutboundSettings  # noqa: E402
from mailer.compose import verp_address  # noqa: E402
from mailer.templating import TemplateRenderer  # noqa: E402
from mailer.transport import SmtpTransport  # noqa: E402
from tests.samples import sample_context, sample_shared  # noqa: E402
from tickets.clock import SystemClock  # noqa: E402
from tickets.db import make_engine, read_only, transaction, unit_of_work  # noqa: E402
from tickets.mail_context import AckContext, Person, template_values  # noqa: E402
from tickets.migrate import upgrade  # noqa: E402
from tickets.models import Outbox  # noqa: E402
from tickets.values import OutgoingEmail  # noqa: E402
from ventanilla.pipeline.outgoing import queue_outgoing  # noqa: E402
from ventanilla.pipeline.sender import OutboxDrainer  # noqa: E402

TARGET = 0.70
QUEUE_CHUNK = 500  # messages per queueing transaction
WARMUP = 50


# -- the sink, in a child process ---------------------------------------------------------


class _CountingHandler:
    def __init__(self, count: Any) -> None:
        self.count = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.count.get_lock():
            self.count.value += len(envelope.rcpt_tos)
        return "250 2.0.0 queued as bench"


def sink_child(port: int, count: Any, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_CountingHandler(count), hostname="127.0.0.1", port=port, ready_timeout=10.0)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class Sink:
    """An aiosmtpd server on 127.0.0.1 in a child process; `count` = recipients accepted."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.port = _free_port()
        self._count = ctx.Value("q", 0)
        self._ready, self._stop = ctx.Event(), ctx.Event()
        self._process = ctx.Process(
            target=sink_child, args=(self.port, self._count, self._ready, self._stop), daemon=True
        )

    @property
    def count(self) -> int:
        return int(self._count.value)

    def __enter__(self) -> "Sink":
        self._process.start()
        if not self._ready.wait(30):
            self._process.kill()
            raise RuntimeError("the aiosmtpd sink did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- queueing -----------------------------------------------------------------------------


def queue_acks(engine: Any, n: int, helpdesk: HelpdeskSettings, now: datetime) -> None:
    """N rendered acknowledgements in the outbox, in es and en, each to its own user."""
    renderer = TemplateRenderer()
    base = sample_context("ack", now)
    assert isinstance(base, AckContext)
    shared = sample_shared(now)
    for start in range(0, n, QUEUE_CHUNK):
        with unit_of_work(engine) as session:
            for i in range(start, min(start + QUEUE_CHUNK, n)):
                user = f"user{i}@correo{i % 13}.example"
                context = replace(
                    base,
                    ticket=replace(base.ticket, id=1000 + i, subject=f"No puedo exportar mi certificado ({i})"),
                    requester=Person(name=f"Usuario {i}", email=user),
                )
                intent = OutgoingEmail(
                    kind="ack",
                    ticket_id=None,
                    to=(user,),
                    idempotency_key=f"bench-ack:{i}",
                    language="es" if i % 3 else "en",
                    auto_submitted="auto-replied",
                    in_reply_to=f"<m{i}@correo{i % 13}.example>",
                    references=(f"<m{i}@correo{i % 13}.example>",),
                    context=context,
                )
                values = {**shared, **template_values(context)}
                queue_outgoing(
                    session,
                    intent,
                    values=values,
                    renderer=renderer,
                    helpdesk=helpdesk,
                    reply_to=helpdesk.address,
                    now=now,
                )


def queued_mail(engine: Any, helpdesk: HelpdeskSettings) -> list[tuple[int, str, list[str], bytes]]:
    """(outbox id, envelope sender, recipients, raw) of every queued row: what the real sender will send."""
    secret = helpdesk.secret.get_secret_value()
    with read_only(engine) as session:
        rows = list(session.exec(select(Outbox).order_by(Outbox.id)))  # type: ignore[arg-type]
        return [
            (int(r.id), verp_address(helpdesk.address, int(r.id), secret), r.recipients.split(","), bytes(r.raw))
            for r in rows
            if r.id is not None
        ]


def park(engine: Any, ids: list[int] | None, when: datetime) -> None:
    """Make rows due at `when` (all rows when `ids` is None): the bench releases one round at a time."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    statement = update(table).values(next_attempt_at=when)
    if ids is not None:
        statement = statement.where(table.c.id.in_(ids))
    with transaction(engine) as connection:
        connection.execute(statement)


# -- the two ways of sending, in alternating rounds ---------------------------------------


@dataclass
class Round:
    raw_seconds: float
    real_seconds: float
    size: int

    @property
    def ratio(self) -> float:
        return self.raw_seconds / self.real_seconds


async def compare(
    engine: Any, port: int, helpdesk: HelpdeskSettings, batch: int, mails: list[Any], rounds: int
) -> tuple[list[Round], int]:
    """Each round sends its share raw, then through the drainer; (rounds, rows the drainer sent)."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await smtp.connect()
    outbound = OutboundSettings(kind="smtp", host="127.0.0.1", port=port, security="none", timeout_seconds=30)
    transport = SmtpTransport(outbound)
    drainer = OutboxDrainer(engine, transport, SystemClock(), helpdesk=helpdesk, outbound=outbound, batch_size=batch)
    results, sent = [], 0
    try:
        for _, sender, rcpts, raw in mails[:WARMUP]:
            await smtp.sendmail(sender, rcpts, raw)
        size = -(-len(mails) // rounds)
        for start in range(0, len(mails), size):
            share = mails[start : start + size]
            began = time.perf_counter()
            for _, sender, rcpts, raw in share:
                await smtp.sendmail(sender, rcpts, raw)
            raw_seconds = time.perf_counter() - began
            await asyncio.to_thread(park, engine, [m[0] for m in share], datetime.now(UTC) - timedelta(seconds=1))
            began = time.perf_counter()
            while True:
                stats = await drainer.run_once()
                sent += stats.sent
                if stats.claimed == 0 or stats.deferred or stats.failed:
                    break
            results.append(Round(raw_seconds, time.perf_counter() - began, len(share)))
    finally:
        await smtp.quit()
        await transport.close()
    return results, sent


def count_sent(engine: Any) -> int:
    with read_only(engine) as session:
        return len(list(session.exec(select(Outbox.id).where(Outbox.status == "sent"))))  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="messages to send each way")
    parser.add_argument("--batch", type=int, default=20, help="drainer batch size (the worker's default: 20)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating raw/drainer rounds")
    args = parser.parse_args()
    helpdesk = HelpdeskSettings(secret=secrets.token_urlsafe(32))  # no built-in secret
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        started = time.perf_counter()
        queue_acks(engine, args.n, helpdesk, datetime.now(UTC))
        queue_seconds = time.perf_counter() - started
        mails = queued_mail(engine, helpdesk)
        park(engine, None, datetime.now(UTC) + timedelta(days=1))
        size = sum(len(m[3]) for m in mails) / max(len(mails), 1)
        print(
            f"queued {len(mails)} rendered acks in {queue_seconds:.1f} s "
            f"({len(mails) / queue_seconds:.0f} msg/s; {size:.0f} bytes each)",
            flush=True,
        )
        with Sink() as sink:
            rounds, marked = asyncio.run(compare(engine, sink.port, helpdesk, args.batch, mails, args.rounds))
            taken = sink.count - WARMUP
        in_db = count_sent(engine)
        engine.dispose()
    print(f"{'round':>5}  {'messages':>8}  {'(a) raw msg/s':>13}  {'(b) drainer msg/s':>17}  {'(b)/(a)':>7}")
    for number, r in enumerate(rounds, 1):
        print(
            f"{number:>5}  {r.size:>8}  {r.size / r.raw_seconds:>13.0f}  "
            f"{r.size / r.real_seconds:>17.0f}  {r.ratio:>7.2f}"
        )
    raw_s, real_s = sum(r.raw_seconds for r in rounds), sum(r.real_seconds for r in rounds)
    ratio = raw_s / real_s
    print(f"(a) raw aiosmtplib, one connection  {args.n / raw_s:8.0f} msg/s   ({args.n} messages in {raw_s:.1f} s)")
    print(
        f"(b) OutboxDrainer + SmtpTransport   {args.n / real_s:8.0f} msg/s   ({args.n} messages in {real_s:.1f} s, "
        f"batch {args.batch})"
    )
    print(
        f"    (b)/(a) = {ratio:.2f} over the run, median round {statistics.median(r.ratio for r in rounds):.2f}   "
        f"target >= {TARGET:.2f}: {'met' if ratio >= TARGET else 'NOT met'}"
    )
    if taken != 2 * args.n or marked != args.n or in_db != args.n:
        print(
            f"ERROR: the sink took {taken} of {2 * args.n}, the drainer sent {marked}, {in_db} rows marked sent",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
