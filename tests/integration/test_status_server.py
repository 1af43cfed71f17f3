"""/metrics and /healthz served in-process on 127.0.0.1 (an ephemeral port) over a real database,
asked with a real HTTP client (urllib); the metrics parsed with prometheus_client's own parser."""

import asyncio
import json
import socket
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import InboxSettings
from mailer.errors import PermanentDeliveryError, SourceUnavailableError
from mailer.transport import make_transport
from tests.integration.smtp_sink import SmtpSink
from tests.mailgen import message
from tickets.db import unit_of_work
from tickets.ingest import mailbox
from tickets.values import ReceiptKey
from ventanilla.app import App
from ventanilla.observe.facts import FactsReader
from ventanilla.observe.metrics import TOTALS_SECONDS, DatabaseCollector, WorkerMetrics
from ventanilla.observe.server import StatusServer
from ventanilla.observe.transport import CountingTransport
from ventanilla.wiring import make_drainer, make_ingestor


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET, 4xx/5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def app(make_settings, db_url, engine, clock, tmp_path) -> App:
    inbox = InboxSettings(kind="maildir", path=str(tmp_path / "maildir"), parse_processes=0)
    return App(make_settings(db_url=db_url, inbox=inbox), engine, clock)


async def test_metrics_and_health_over_http(app: App, clock) -> None:
    metrics = WorkerMetrics(FactsReader(app.settings, app.engine, clock))
    ingestor = make_ingestor(app, observe=metrics.batch_processed)
    server = StatusServer(metrics.registry, metrics.reader.check)  # type: ignore[union-attr]
    host, port = await server.start("127.0.0.1", 0)
    base = f"http://{host}:{port}"
    try:
        status, kind, body = await asyncio.to_thread(get, base + "/healthz")
        assert (status, kind) == (503, "application/json")
        assert json.loads(body) == {"status": "unhealthy", "reason": "mailbox support: never read successfully"}
        assert body.count("\n") == 1  # one line

        for uid in (1, 2):
            _, raw = message(index=uid, sender=f"u{uid}@correo.example", subject="Renovar", body="Hola",
                             when=clock.now())
            await asyncio.to_thread(ingestor.process, ReceiptKey(mailbox="support", uidvalidity=1, uid=uid), raw,
                                    clock.now())
        with unit_of_work(app.engine) as session:
            mailbox.record_poll(session, "support", clock.now())
        metrics.mailbox_error(SourceUnavailableError("imap down"))
        metrics.mailbox_error(TimeoutError())
        clock.advance(seconds=30)

        status, _, body = await asyncio.to_thread(get, base + "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, kind, text = await asyncio.to_thread(get, base + "/metrics")
        assert status == 200 and kind.startswith("text/plain; version=")
        got = samples(text)
        assert got[("ventanilla_received_messages", (("status", "ticketed"),))] == 2
        assert got[("ventanilla_received_messages", (("status", "quarantined"),))] == 0
        assert got[("ventanilla_tickets", (("status", "open"),))] == 2
        assert got[("ventanilla_spool_depth", ())] == 0
        queued = got[("ventanilla_outbox_messages", (("status", "queued"),))]
        assert queued >= 2 and got[("ventanilla_outbox_oldest_queued_age_seconds", ())] == 30
        assert got[("ventanilla_mailbox_last_poll_timestamp_seconds", (("mailbox", "support"),))] == (
            clock.now() - timedelta(seconds=30)).timestamp()
        assert got[("ventanilla_processed_messages_total", (("action", "ticketed"),))] == 2
        assert got[("ventanilla_processing_seconds_count", ())] == 2
        assert got[("ventanilla_mailbox_errors_total", (("kind", "unavailable"),))] == 1
        assert got[("ventanilla_mailbox_errors_total", (("kind", "timeout"),))] == 1
        assert got[("ventanilla_sla_alerts_total", (("threshold", "breach-48h"),))] == 0
        assert got[("ventanilla_database_up", ())] == 1 and got[("ventanilla_healthy", ())] == 1
        assert ("process_cpu_seconds_total", ()) in got
    finally:
        await server.close()
        ingestor.close()


async def test_smtp_errors_are_counted_by_kind(app: App, clock, smtp_sink: SmtpSink) -> None:
    """The real sender through the counting transport to a sink that refuses and defers."""
    metrics = WorkerMetrics()
    outbound = app.settings.outbound.model_copy(
        update={"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"})
    transport = CountingTransport(make_transport(outbound), metrics.smtp_error)
    smtp_sink.script("data", "451 4.3.0 try later")
    with pytest.raises(Exception) as deferred:
        await transport.send("a@ventanilla.example", ["b@correo.example"], b"Subject: x\r\n\r\nx\r\n")
    smtp_sink.script("data", "554 5.7.1 no")
    with pytest.raises(PermanentDeliveryError):
        await transport.send("a@ventanilla.example", ["b@correo.example"], b"Subject: x\r\n\r\nx\r\n")
    smtp_sink.refuse("c@correo.example", "550 5.1.1 no such user")
    await transport.send("a@ventanilla.example", ["b@correo.example", "c@correo.example"], b"Subject: y\r\n\r\ny\r\n")
    await transport.close()
    got = samples((await asyncio.to_thread(generate_latest, metrics.registry)).decode())
    assert type(deferred.value).__name__ == "TemporaryDeliveryError"
    assert got[("ventanilla_smtp_errors_total", (("kind", "temporary"),))] == 1
    assert got[("ventanilla_smtp_errors_total", (("kind", "permanent"),))] == 1
    assert got[("ventanilla_smtp_errors_total", (("kind", "refused_permanent"),))] == 1
    assert got[("ventanilla_smtp_errors_total", (("kind", "unreachable"),))] == 0
    # And the drainer is unchanged by the wrapper: it sends through it.
    drainer = make_drainer(app.settings, app.engine, clock, transport=transport)
    assert (await drainer.run_once()).claimed == 0


async def test_only_get_and_head_on_two_paths_and_a_silent_client_blocks_nobody(app: App, clock) -> None:
    metrics = WorkerMetrics(FactsReader(app.settings, app.engine, clock))
    server = StatusServer(metrics.registry, metrics.reader.check)  # type: ignore[union-attr]
    host, port = await server.start("127.0.0.1", 0)
    base = f"http://{host}:{port}"
    silent = [socket.create_connection((host, port)) for _ in range(3)]  # connected, never ask
    try:
        assert (await asyncio.to_thread(get, base + "/"))[0] == 404
        assert (await asyncio.to_thread(get, base + "/metrics?x=1"))[0] == 200
        openmetrics = urllib.request.Request(base + "/metrics", headers={"Accept": "application/openmetrics-text"})
        with await asyncio.to_thread(urllib.request.urlopen, openmetrics, None, 10) as answer:
            assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
            assert answer.read().decode().endswith("# EOF\n")
        post = urllib.request.Request(base + "/metrics", data=b"x", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            await asyncio.to_thread(urllib.request.urlopen, post, None, 10)
        refused.value.close()
        assert refused.value.code == 405
        head = urllib.request.Request(base + "/healthz", method="HEAD")
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            await asyncio.to_thread(urllib.request.urlopen, head, None, 10)
        with unhealthy.value as answer:
            assert answer.code == 503 and answer.read() == b""
    finally:
        for sock in silent:
            sock.close()
        await server.close()


def test_counts_that_only_grow_are_read_again_once_a_minute(app: App, clock) -> None:
    """Live statuses are exact at every scrape; ticketed/sent/closed and alerts at most a minute late."""
    ticks = [0.0]
    collector = DatabaseCollector(FactsReader(app.settings, app.engine, clock), monotonic=lambda: ticks[0])
    registry = CollectorRegistry()
    registry.register(collector)
    ingestor = make_ingestor(app)
    try:
        def arrive(uid: int) -> None:
            _, raw = message(index=uid, sender=f"u{uid}@correo.example", subject="Hola", body="x", when=clock.now())
            ingestor.process(ReceiptKey(mailbox="support", uidvalidity=1, uid=uid), raw, clock.now())

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            return samples(generate_latest(registry).decode())

        arrive(1)
        first = scrape()
        assert first[("ventanilla_received_messages", (("status", "ticketed"),))] == 1
        arrive(2)
        ticks[0] = TOTALS_SECONDS - 1
        second = scrape()
        assert second[("ventanilla_received_messages", (("status", "ticketed"),))] == 1  # not read again yet
        assert second[("ventanilla_tickets", (("status", "open"),))] == 2  # live: exact
        ticks[0] = TOTALS_SECONDS
        assert scrape()[("ventanilla_received_messages", (("status", "ticketed"),))] == 2
    finally:
        ingestor.close()
