"""Outbox sending benchmark: the real sender vs raw aiosmtplib on one reused connection, in one run.

    python -m bench.outbox [-n 5000] [--batch 20]

Renders N acknowledgements through the real TemplateRenderer and queues them with
`mailer.outbox.queue_outgoing` into a temporary SQLite database, then sends them to a local
aiosmtpd sink (127.0.0.1 only, in a child process so that its CPU does not share our GIL) in two
ways, on the same bytes, envelope senders and recipients:

  (a) raw: one aiosmtplib connection, `sendmail` in a loop (nothing else);
  (b) real: `OutboxDrainer.run_once` with `SmtpTransport` (claims, per-row database writes,
      VERP envelope, per-recipient results), as `ventanilla.wiring.make_drainer` builds it.

Prints both rates in msg/s and (b)/(a); the target is >= 0.70. The sink counts what it took,
and the run fails if either way lost or duplicated a message.
"""

import argparse
import asyncio
import multiprocessing
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from sqlmodel import select  # noqa: E402

from config.settings import HelpdeskSettings, OutboundSettings  # noqa: E402
from mailer.compose import verp_address  # noqa: E402
from mailer.outbox import OutboxDrainer, queue_outgoing  # noqa: E402
from mailer.templating import TemplateRenderer, sample_context  # noqa: E402
from mailer.transport import SmtpTransport  # noqa: E402
from tickets.clock import SystemClock  # noqa: E402
from tickets.db import make_engine, read_only, unit_of_work  # noqa: E402
from tickets.migrate import upgrade  # noqa: E402
from tickets.models import Outbox  # noqa: E402
from tickets.values import OutgoingEmail  # noqa: E402

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
    for start in range(0, n, QUEUE_CHUNK):
        with unit_of_work(engine) as session:
            for i in range(start, min(start + QUEUE_CHUNK, n)):
                user = f"user{i}@correo{i % 13}.example"
                context = {
                    **base,
                    "ticket": {**base["ticket"], "id": 1000 + i, "subject": f"No puedo exportar mi certificado ({i})"},  # type: ignore[dict-item]
                    "requester": {"name": f"Usuario {i}", "email": user},
                }
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
                queue_outgoing(
                    session, intent, renderer=renderer, helpdesk=helpdesk, reply_to=helpdesk.address, now=now
                )


def queued_mail(engine: Any, helpdesk: HelpdeskSettings) -> list[tuple[str, list[str], bytes]]:
    """(envelope sender, recipients, raw) of every queued row: what the real sender will send."""
    secret = helpdesk.secret.get_secret_value()
    with read_only(engine) as session:
        rows = list(session.exec(select(Outbox).order_by(Outbox.id)))  # type: ignore[arg-type]
        return [
            (verp_address(helpdesk.address, int(r.id), secret), r.recipients.split(","), bytes(r.raw))
            for r in rows
            if r.id is not None
        ]


# -- the two ways of sending --------------------------------------------------------------


async def raw_rate(port: int, mails: list[tuple[str, list[str], bytes]]) -> tuple[float, float]:
    """(msg/s, seconds) with one aiosmtplib connection and nothing else."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await smtp.connect()
    try:
        for sender, rcpts, raw in mails[:WARMUP]:
            await smtp.sendmail(sender, rcpts, raw)
        started = time.perf_counter()
        for sender, rcpts, raw in mails:
            await smtp.sendmail(sender, rcpts, raw)
        elapsed = time.perf_counter() - started
    finally:
        await smtp.quit()
    return len(mails) / elapsed, elapsed


async def real_rate(engine: Any, port: int, helpdesk: HelpdeskSettings, batch: int, n: int) -> tuple[float, float, int]:
    """(msg/s, seconds, rows marked sent) through OutboxDrainer + SmtpTransport."""
    outbound = OutboundSettings(kind="smtp", host="127.0.0.1", port=port, security="none", timeout_seconds=30)
    transport = SmtpTransport(outbound)
    drainer = OutboxDrainer(engine, transport, SystemClock(), helpdesk=helpdesk, outbound=outbound, batch_size=batch)
    sent = 0
    started = time.perf_counter()
    while True:
        stats = await drainer.run_once()
        sent += stats.sent
        if stats.claimed == 0 or stats.deferred or stats.failed:
            break
    elapsed = time.perf_counter() - started
    await transport.close()
    return n / elapsed, elapsed, sent


def count_sent(engine: Any) -> int:
    with read_only(engine) as session:
        return len(list(session.exec(select(Outbox.id).where(Outbox.status == "sent"))))  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="messages to send each way")
    parser.add_argument("--batch", type=int, default=20, help="drainer batch size (the worker's default: 20)")
    args = parser.parse_args()
    helpdesk = HelpdeskSettings()
    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        started = time.perf_counter()
        queue_acks(engine, args.n, helpdesk, datetime.now(UTC))
        queue_seconds = time.perf_counter() - started
        mails = queued_mail(engine, helpdesk)
        size = sum(len(raw) for _, _, raw in mails) / max(len(mails), 1)
        print(
            f"queued {len(mails)} rendered acks in {queue_seconds:.1f} s "
            f"({len(mails) / queue_seconds:.0f} msg/s; {size:.0f} bytes each)",
            flush=True,
        )
        with Sink() as sink:
            raw, raw_s = asyncio.run(raw_rate(sink.port, mails))
            raw_count = sink.count - WARMUP
            real, real_s, marked = asyncio.run(real_rate(engine, sink.port, helpdesk, args.batch, args.n))
            real_count = sink.count - WARMUP - raw_count
        in_db = count_sent(engine)
        engine.dispose()
    ratio = real / raw
    print(f"(a) raw aiosmtplib, one connection  {raw:8.0f} msg/s   ({raw_count} messages in {raw_s:.1f} s)")
    print(
        f"(b) OutboxDrainer + SmtpTransport   {real:8.0f} msg/s   ({real_count} messages in {real_s:.1f} s, "
        f"batch {args.batch})"
    )
    print(f"    (b)/(a) = {ratio:.2f}   target >= {TARGET:.2f}: {'met' if ratio >= TARGET else 'NOT met'}")
    problems = []
    if raw_count != args.n:
        problems.append(f"raw run: the sink took {raw_count} of {args.n}")
    if real_count != args.n or marked != args.n or in_db != args.n:
        problems.append(f"real run: the sink took {real_count}, drainer sent {marked}, {in_db} rows marked sent")
    if problems:
        print("ERROR: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
