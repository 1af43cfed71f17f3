"""Prometheus metrics of a worker: counters and a histogram kept in this process (what it did),
and gauges read from the database at scrape time (how the service stands: every worker reports
the same truth). Metric names are listed in the README ("Watching a worker")."""

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mailer.errors import (
    InsecureConnectionError,
    PermanentDeliveryError,
    SourceAuthError,
    SourceUnavailableError,
    TemporaryDeliveryError,
)
from mailer.transport import ServerUnreachableError
from tickets.errors import DatabaseUnavailableError
from tickets.status.facts import (
    OUTBOX_STATUSES,
    RECEIPT_STATUSES,
    THRESHOLD_ORDER,
    TICKET_STATUSES,
    Health,
    StatusFacts,
    with_totals,
)
from tickets.status.queries import LIVE
from tickets.values import IngestResult
from ventanilla.observe.facts import FactsReader

# Processing a batch (1 to inbox.batch_size messages, one transaction) takes milliseconds to seconds.
TOTALS_SECONDS = 60.0  # the ever-growing counts are read again after this long
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SOURCE_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (DatabaseUnavailableError, "database"),
    (SourceAuthError, "auth"),
    (InsecureConnectionError, "insecure"),
    (SourceUnavailableError, "unavailable"),
    (TimeoutError, "timeout"),
    (OSError, "network"),
)
SMTP_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (ServerUnreachableError, "unreachable"),
    (TemporaryDeliveryError, "temporary"),
    (PermanentDeliveryError, "permanent"),
)


def kind_of(exc: BaseException, kinds: Sequence[tuple[type[BaseException], str]]) -> str:
    """The label of an error: the first class of `kinds` it is an instance of, else "other"."""
    return next((label for cls, label in kinds if isinstance(exc, cls)), "other")


class WorkerMetrics:
    """One worker's registry: its own counters, the process's, and the database's gauges."""

    def __init__(self, reader: FactsReader | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.mailbox_errors = Counter(
            "ventanilla_mailbox_errors", "Faults that stopped a pass over the mailbox (IMAP or Maildir), by kind",
            ["kind"], registry=self.registry,
        )
        self.smtp_errors = Counter(
            "ventanilla_smtp_errors", "Failed SMTP sends, by kind (refused_*: a recipient refused)",
            ["kind"], registry=self.registry,
        )
        self.processed = Counter(
            "ventanilla_processed_messages", "Messages processed by this worker, by outcome",
            ["action"], registry=self.registry,
        )
        self.processing = Histogram(
            "ventanilla_processing_seconds", "Time to process one batch of spooled messages (one transaction)",
            buckets=BATCH_BUCKETS, registry=self.registry,
        )
        self.reader = reader
        for kind in {label for _, label in SOURCE_KINDS}:
            self.mailbox_errors.labels(kind=kind)
        for kind in (*(label for _, label in SMTP_KINDS), "refused_temporary", "refused_permanent"):
            self.smtp_errors.labels(kind=kind)
        if reader is not None:
            self.registry.register(DatabaseCollector(reader))

    def mailbox_error(self, exc: BaseException) -> None:
        self.mailbox_errors.labels(kind=kind_of(exc, SOURCE_KINDS)).inc()

    def smtp_error(self, kind: str) -> None:
        self.smtp_errors.labels(kind=kind).inc()

    def batch_processed(self, results: Sequence[IngestResult], seconds: float) -> None:
        self.processing.observe(seconds)
        for result in results:
            self.processed.labels(action=str(result.action)).inc()


def _every(keys: Sequence[str], counts: Mapping[str, int]) -> dict[str, int]:
    """`counts` with every one of `keys` present (0 when absent)."""
    return {**dict.fromkeys(keys, 0), **counts}


def _gauge(name: str, doc: str, value: float | None = None, **labels: Mapping[str, float]) -> GaugeMetricFamily:
    if not labels:
        return GaugeMetricFamily(name, doc, value=value)
    ((label, values),) = labels.items()
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, number in sorted(values.items()):
        family.add_metric([key], number)
    return family


class DatabaseCollector(Collector):
    """Gauges computed at scrape time from the status facts (tickets.status.queries): the live
    statuses at every scrape, the counts that only grow (ticketed, sent, closed, alerts) at most
    every TOTALS_SECONDS (they read whole indexes: bench/status.py)."""

    def __init__(self, reader: FactsReader, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._reader = reader
        self._monotonic = monotonic
        self._totals: StatusFacts | None = None
        self._totals_at = 0.0

    def _facts(self) -> tuple[StatusFacts | None, Health]:
        stale = self._totals is None or self._monotonic() - self._totals_at >= TOTALS_SECONDS
        facts, health = self._reader.check(totals=stale)
        if facts is None:
            return None, health
        if stale:
            self._totals, self._totals_at = facts, self._monotonic()
            return facts, health
        assert self._totals is not None
        return with_totals(facts, self._totals, LIVE), health

    def describe(self) -> Iterable[Metric]:
        return []  # nothing read at registration: the database is only asked at scrape time

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        facts, health = self._facts()
        yield _gauge("ventanilla_database_up", "1 when the database answered this scrape", 0 if facts is None else 1)
        yield _gauge("ventanilla_healthy", "1 when /healthz answers 200", 1 if health.ok else 0)
        if facts is None:
            return
        receipts, tickets = _every(RECEIPT_STATUSES, facts.receipts), _every(TICKET_STATUSES, facts.tickets)
        yield _gauge("ventanilla_received_messages", "Received messages by receipt status", status=receipts)
        yield _gauge("ventanilla_tickets", "Tickets by status", status=tickets)
        outbox = _every(OUTBOX_STATUSES, facts.outbox)
        yield _gauge("ventanilla_outbox_messages", "Outgoing messages by status", status=outbox)
        age = facts.oldest_queued_age
        yield _gauge("ventanilla_outbox_oldest_queued_age_seconds", "Age of the oldest queued outgoing message "
                     "(0 when none)", age.total_seconds() if age else 0.0)
        wait = facts.oldest_due_wait
        yield _gauge("ventanilla_outbox_oldest_due_wait_seconds", "How long the longest-waiting due outgoing "
                     "message has waited for a send (0 when none)", wait.total_seconds() if wait else 0.0)
        yield _gauge("ventanilla_spool_depth", "Received messages waiting to be processed", facts.spool_depth)
        polled = facts.polled_at.timestamp() if facts.polled_at else 0.0
        yield _gauge("ventanilla_mailbox_last_poll_timestamp_seconds", "Last successful read of the mailbox "
                     "(Unix time; 0 never)", mailbox={facts.mailbox: polled})
        yield _gauge("ventanilla_sla_tickets", "Tickets waiting for an answer: response due soon (nearing) "
                     "or overdue (past)", state={"nearing": facts.sla_nearing, "past": facts.sla_past})
        alerts = CounterMetricFamily("ventanilla_sla_alerts", "SLA alerts sent, by threshold", labels=["threshold"])
        for threshold, n in sorted(_every(THRESHOLD_ORDER, facts.sla_alerts).items()):
            alerts.add_metric([threshold], n)
        yield alerts
        yield _gauge("ventanilla_status_query_seconds", "Time the database took to answer this scrape",
                     time.perf_counter() - started)
