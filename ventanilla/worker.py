"""The asyncio worker: the mailbox poller and the outbox drainer as separate tasks."""

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from config.settings import Settings
from mailer.errors import SourceAuthError, SourceUnavailableError
from tickets import repository as repo
from tickets.clock import Clock
from tickets.db import unit_of_work
from tickets.errors import DatabaseUnavailableError
from ventanilla.pipeline.intake import Poller, PollStats

logger = logging.getLogger(__name__)
MAX_BACKOFF = 300.0
LEASE_SECONDS = 120


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True when a lease owner is a process on this host that no longer runs."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def next_backoff(current: float, cap: float = MAX_BACKOFF) -> float:
    """Capped exponential backoff for reconnecting."""
    return min(cap, max(1.0, current * 2))


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when the stop event is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


class MailboxLoop:
    """Polls one mailbox until stopped; reconnects with backoff when the server goes away."""

    def __init__(self, poller: Poller, engine: Engine, clock: Clock, settings: Settings) -> None:
        self._poller = poller
        self._engine = engine
        self._clock = clock
        self._settings = settings
        self._owner = worker_id()
        self._stop: asyncio.Event | None = None

    def _lease(self) -> bool:
        now = self._clock.now()
        with unit_of_work(self._engine) as session:
            return repo.take_lease(
                session,
                self._poller.source.name,
                self._owner,
                now,
                now + timedelta(seconds=LEASE_SECONDS),
                is_dead=owner_is_dead,
            )

    async def run_once(self, progress: Callable[[int, int], None] | None = None) -> PollStats | None:
        if not await asyncio.to_thread(self._lease):
            logger.debug("another worker holds the lease of %s", self._poller.source.name)
            return None
        stats = await asyncio.to_thread(self._poller.run_once, progress, self._keep_going)
        if stats.processed or stats.quarantined or stats.leftovers:
            logger.info("pass over %s: %s", self._poller.source.name, stats, extra={"action": "pass"})
        return stats

    def _keep_going(self) -> bool:
        """Between two batches: go on unless asked to stop; renew the lease on the way."""
        return not (self._stop is not None and self._stop.is_set()) and self._lease()

    async def run(self, stop: asyncio.Event, progress: Callable[[int, int], None] | None = None) -> None:
        backoff = 1.0
        self._stop = stop
        watcher = asyncio.create_task(self._interrupt_on(stop))
        try:
            while not stop.is_set():
                try:
                    await self.run_once(progress)
                    backoff = 1.0
                except (SourceUnavailableError, SourceAuthError, DatabaseUnavailableError, OSError) as exc:
                    level = logging.ERROR if isinstance(exc, SourceAuthError) else logging.WARNING
                    logger.log(level, "%s: %s; retrying in %.0f s", type(exc).__name__, exc, backoff)
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
                repo.release_lease(session, self._poller.source.name, self._owner)
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
