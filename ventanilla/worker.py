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
from tickets.ingest import mailbox, presence
from ventanilla.pipeline.holder import is_dead_here, worker_id
from ventanilla.pipeline.intake import Poller, PollStats
from ventanilla.pipeline.trouble import Trouble

logger = logging.getLogger(__name__)
MAX_BACKOFF = 300.0
LEASE_CHECK_SECONDS = 1.0  # a worker tries for (or renews) the poller lease about this often
PEER_WAIT_SECONDS = 0.2  # a worker without the lease looks at the spool this often


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
    """Polls one mailbox until stopped; reconnects with backoff when the server goes away.

    Several workers on one mailbox: the one holding the poller lease reads the mailbox (and
    IDLEs); while others are alive it leaves what it reads in the spool, unclaimed, and every
    worker claims from there. The others never touch the mailbox: they look at the spool every
    PEER_WAIT_SECONDS and try for the lease about every second, so one takes over within
    `inbox.lease_seconds` of the holder's last renewal (at once when it died on this host).
    """

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
        self._lease_seconds = settings.inbox.lease_seconds
        self._check_every = min(LEASE_CHECK_SECONDS, self._lease_seconds / 3)
        self.holding = False
        self._reading = False  # connected to the mailbox as its holder
        self.peers = 0
        self._checked = -self._check_every  # monotonic time of the last lease check
        self._polled = -self._check_every  # ... and of the last successful read recorded

    def _lease(self) -> bool:
        """Take or renew the poller lease, say this worker is alive, count the others."""
        now = self._clock.now()
        until = now + timedelta(seconds=self._lease_seconds)
        name = self._poller.source.name
        with unit_of_work(self._engine) as session:
            held = mailbox.take_lease(session, name, self._owner, now, until, is_dead=is_dead_here)
            presence.announce(session, holder=self._owner, mailbox=name, until=until)
            self.peers = presence.peers(session, holder=self._owner, mailbox=name, now=now) if held else 0
        if held != self.holding:
            logger.info("%s the poller lease of %s", "took" if held else "lost", name, extra={"action": "lease"})
        self.holding = held
        self._checked = self._clock.monotonic()
        return held

    def _lease_due(self) -> bool:
        return self._clock.monotonic() - self._checked >= self._check_every

    def _record_poll(self) -> None:
        """The folder was just read: recorded for every worker's /healthz and `ventanilla status`
        (at most once per lease check: it costs a transaction)."""
        now = self._clock.now()
        with unit_of_work(self._engine) as session:
            mailbox.record_poll(session, self._poller.source.name, now)
        self._polled = self._clock.monotonic()

    async def run_once(self, progress: Callable[[int, int], None] | None = None) -> PollStats:
        """What waits in the spool (oldest first), then the mailbox into the spool and tickets
        (while this worker holds the mailbox's lease)."""
        stats = PollStats()
        await asyncio.to_thread(self._poller.ingestor.process_due, stats.count, self._between_batches)
        # The holder renews its lease about every second (not at each new mail: it costs a transaction).
        if self._lease_due() or self._stop is None:
            await asyncio.to_thread(self._lease)
        if self.holding:
            hand_off = self.peers > 0
            await asyncio.to_thread(self._poller.take_in, stats, progress, self._keep_going, hand_off=hand_off)
            if hand_off:  # the holder takes its share of what it spooled
                await asyncio.to_thread(self._poller.ingestor.process_due, stats.count, self._between_batches)
            if self._clock.monotonic() - self._polled >= self._check_every or self._stop is None:
                await asyncio.to_thread(self._record_poll)
        if stats.spooled or stats.processed or stats.quarantined or stats.failed or stats.waiting or stats.leftovers:
            name = self._poller.source.name
            logger.info("pass over %s: %s", name, stats, extra={"action": "pass", "mailbox": name})
        return stats

    def _running(self) -> bool:
        return not (self._stop is not None and self._stop.is_set())

    def _keep_going(self) -> bool:
        """Between two batches taken in: go on unless asked to stop or the lease was lost."""
        if not self._running():
            return False
        return self._lease() if self._lease_due() else self.holding

    def _between_batches(self) -> bool:
        """Between two batches claimed from the spool: renew the lease, or take it over (and
        then stop claiming: read the mailbox first)."""
        if not self._running():
            return False
        if self._lease_due():
            was = self.holding
            took_over = self._lease() and not was
            return not (took_over and self._stop is not None)  # `--once` reads the mailbox after
        return True

    async def run(self, stop: asyncio.Event, progress: Callable[[int, int], None] | None = None) -> None:
        backoff = 1.0
        self._stop = stop
        trouble = Trouble(f"mailbox {self._poller.source.name}")
        watcher = asyncio.create_task(self._interrupt_on(stop))
        try:
            while not stop.is_set():
                try:
                    took = (await self.run_once(progress)).spooled
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
                if took and self.holding:
                    # Look again before IDLE: mail that came while this pass worked may have been
                    # announced in a reply to its FETCH or MOVE, which the IMAP client drops.
                    continue
                await self._wait(stop)
        finally:
            watcher.cancel()
            await asyncio.to_thread(self.release)
            await asyncio.to_thread(self.close_source)

    async def _wait(self, stop: asyncio.Event) -> None:
        """The holder waits for mail (IDLE), renewing its lease in time; the others for the spool."""
        if self.holding:
            self._reading = True
            await self._wait_for_mail(min(self._settings.inbox.poll_seconds, self._lease_seconds / 3))
            return
        if self._reading:  # the lease was lost: let the mailbox go
            self._reading = False
            await asyncio.to_thread(self._poller.source.close)
        await sleep_or_stop(stop, PEER_WAIT_SECONDS)

    async def _wait_for_mail(self, seconds: float) -> None:
        try:
            await asyncio.to_thread(self._poller.source.wait, seconds)
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

    def release(self) -> None:
        """Give up the poller lease and say this worker stops."""
        try:
            with unit_of_work(self._engine) as session:
                mailbox.release_lease(session, self._poller.source.name, self._owner)
                presence.leave(session, holder=self._owner, now=self._clock.now())
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
