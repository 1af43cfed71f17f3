"""The asyncio worker: the mailbox poller and the outbox drainer as separate tasks."""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from config.settings import Settings
from mailer.errors import InsecureConnectionError, SourceAuthError, SourceUnavailableError
from tickets.clock import Clock
from tickets.db import unit_of_work
from tickets.errors import DatabaseUnavailableError
from tickets.ingest import mailbox
from ventanilla.pipeline.holder import is_dead_here, worker_id
from ventanilla.pipeline.intake import Poller, PollStats
from ventanilla.pipeline.trouble import Trouble

logger = logging.getLogger(__name__)
MAX_BACKOFF = 300.0
LEASE_SECONDS = 120


def next_backoff(current: float, cap: float = MAX_BACKOFF) -> float:
    """Capped exponential backoff for reconnecting."""
    return min(cap, max(1.0, current * 2))


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when the stop event is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


# Faults that stop a pass but are nobody's message's fault: wait (capped backoff), say so once.
# A server without the STARTTLS the settings demand may be a passing fault (or an attack): wait.
WAIT_AND_RETRY = (SourceUnavailableError, SourceAuthError, InsecureConnectionError, DatabaseUnavailableError, OSError)


class MailboxLoop:
    """Polls one mailbox until stopped; reconnects with backoff when the server goes away."""

    def __init__(
        self,
        poller: Poller,
        engine: Engine,
        clock: Clock,
        settings: Settings,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._poller = poller
        self._on_error = on_error  # told of each fault that stopped a pass (the metrics count them)
        self._engine = engine
        self._clock = clock
        self._settings = settings
        self._owner = worker_id()
        self._stop: asyncio.Event | None = None

    def _lease(self, *, polled: bool = False) -> bool:
        """Take or renew the mailbox's lease; `polled`: the folder was just read successfully
        (recorded for every worker's /healthz and `ventanilla status`)."""
        now = self._clock.now()
        name = self._poller.source.name
        with unit_of_work(self._engine) as session:
            held = mailbox.take_lease(
                session, name, self._owner, now, now + timedelta(seconds=LEASE_SECONDS), is_dead=is_dead_here
            )
            if polled:
                mailbox.record_poll(session, name, now)
            return held

    async def run_once(self, progress: Callable[[int, int], None] | None = None) -> PollStats:
        """What waits in the spool (oldest first), then the mailbox into the spool and tickets
        (while this worker holds the mailbox's lease)."""
        stats = PollStats()
        await asyncio.to_thread(self._poller.ingestor.process_due, stats.count, self._running)
        if await asyncio.to_thread(self._lease):
            await asyncio.to_thread(self._poller.take_in, stats, progress, self._keep_going)
            await asyncio.to_thread(self._lease, polled=True)
        else:
            logger.debug("another worker holds the lease of %s", self._poller.source.name)
        if stats.spooled or stats.processed or stats.quarantined or stats.failed or stats.waiting or stats.leftovers:
            name = self._poller.source.name
            logger.info("pass over %s: %s", name, stats, extra={"action": "pass", "mailbox": name})
        return stats

    def _running(self) -> bool:
        return not (self._stop is not None and self._stop.is_set())

    def _keep_going(self) -> bool:
        """Between two batches: go on unless asked to stop; renew the lease on the way."""
        return self._running() and self._lease(polled=True)

    async def run(self, stop: asyncio.Event, progress: Callable[[int, int], None] | None = None) -> None:
        backoff = 1.0
        self._stop = stop
        trouble = Trouble(f"mailbox {self._poller.source.name}")
        watcher = asyncio.create_task(self._interrupt_on(stop))
        try:
            while not stop.is_set():
                try:
                    await self.run_once(progress)
                    backoff = 1.0
                    trouble.cleared()
                except WAIT_AND_RETRY as exc:
                    if self._on_error is not None:
                        self._on_error(exc)
                    level = logging.WARNING if isinstance(exc, SourceUnavailableError) else logging.ERROR
                    trouble.report(f"{type(exc).__name__}: {exc}", "mail waits; retrying with backoff", level=level)
                    await asyncio.to_thread(self._poller.source.close)
                    await sleep_or_stop(stop, backoff)
                    backoff = next_backoff(backoff)
                    continue
                if stop.is_set():
                    break
                await self._wait_for_mail()
        finally:
            watcher.cancel()
            await asyncio.to_thread(self._release)
            await asyncio.to_thread(self.close_source)

    async def _wait_for_mail(self) -> None:
        try:
            await asyncio.to_thread(self._poller.source.wait, self._settings.inbox.poll_seconds)
        except (SourceUnavailableError, OSError) as exc:
            if self._on_error is not None:
                self._on_error(exc)
            logger.warning("waiting for mail failed: %s", exc)

    async def _interrupt_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        interrupt = getattr(self._poller.source, "interrupt", None)
        if interrupt:
            interrupt()

    def close_source(self) -> None:
        self._poller.source.close()
        self._poller.ingestor.close()

    def _release(self) -> None:
        try:
            with unit_of_work(self._engine) as session:
                mailbox.release_lease(session, self._poller.source.name, self._owner)
        except DatabaseUnavailableError:
            pass


Task = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def run_tasks(tasks: list[Task], stop: asyncio.Event) -> None:
    """Run the worker's loops until stop is set; one failing loop stops the others."""
    running = [asyncio.create_task(task(stop)) for task in tasks]
    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    await asyncio.gather(*running, return_exceptions=True)
    for task in done:
        if task.exception():
            raise task.exception()  # type: ignore[misc]
