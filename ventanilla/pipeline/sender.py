"""Queue rendered mail in the outbox, and drain the outbox through a transport.

One outbox row is one unit of work, marked sent only after the server accepted it; temporary failures
wait (capped backoff, the first said on the ticket) until the row's lifetime runs out; permanent ones
are recorded with the server's answer. Per-recipient results are kept: a recipient who got the
message never gets it again, and this process never sends one row twice.

Claims name this process (`holder`) and carry a heartbeat, renewed every `heartbeat_every`
seconds while a drain runs (however long one send takes): a drainer of another process takes the
rows only once the heartbeat is older than `heartbeat_timeout`, or at once when this process died
and the other one runs on the same host (a restart after a crash sends at once).
"""

import asyncio
import dataclasses
import logging
import random
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine

from config.settings import HelpdeskSettings, OutboundSettings
from mailer.compose import verp_address
from mailer.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailer.transport import Results, ServerUnreachableError, Transport
from tickets.clock import Clock
from tickets.db import transaction
from tickets.errors import DatabaseUnavailableError
from tickets.outbox import queries
from tickets.outbox.failures import NoticePolicy, NoticeQueue, delivery_failure, note_failures
from tickets.outbox.queries import ClaimedMail, Outcome
from ventanilla.pipeline.heartbeat import Heartbeat
from ventanilla.pipeline.holder import is_dead_here, worker_id
from ventanilla.pipeline.trouble import Trouble

logger = logging.getLogger(__name__)
MAX_BATCHES_PER_RUN = 1000
# Outcomes are written in groups of this many, beside the sending (and the rest when a drain ends):
# a crash between sending and writing can resend at most MAX_UNRECORDED messages (plus one per extra
# lane: each checks before it sends), each with its stable Message-ID (invariant 2). 1 writes every
# row on its own, at about half the speed.
RECORD_GROUP = 8
MAX_UNRECORDED = 2 * RECORD_GROUP  # sending waits for the database beyond this (a slow or locked DB)


@dataclass(slots=True)
class DrainStats:
    """What one drain did, counted in outbox rows."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0  # sent earlier by this process; only the database write was redone
    deferred: bool = False  # the server is unreachable; the drain stopped early
    unreachable: str = ""  # why, when the server was tried and did not answer


def _code_of(reply: str, default: int) -> int:
    match = re.match(r"^([2-5]\d\d)\b", reply)
    return int(match.group(1)) if match else default


def _pending(mail: ClaimedMail, results: Results) -> list[str]:
    """Recipients without a final answer: none yet, or a 4xx."""
    return [r for r in mail.recipients if r not in results or 400 <= results[r][0] < 500]


class OutboxDrainer:
    """Claims due outbox rows in small batches and sends them through one transport."""

    def __init__(
        self,
        engine: Engine,
        transport: Transport,
        clock: Clock,
        *,
        helpdesk: HelpdeskSettings,
        outbound: OutboundSettings,
        batch_size: int = 20,
        poll_seconds: float = 5.0,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] | None = None,
        holder: str | None = None,
        is_dead: Callable[[str], bool] = is_dead_here,
        heartbeat_timeout: timedelta = queries.HEARTBEAT_TIMEOUT,
        heartbeat_every: float | None = None,
        notify: NoticeQueue | None = None,
    ) -> None:
        self.engine, self.transport, self.clock = engine, transport, clock
        # Waits and the breaker run on a clock that never steps back (default: the clock's own).
        self.monotonic = monotonic or clock.monotonic
        self.helpdesk, self.outbound = helpdesk, outbound
        # A mail given up is told to its ticket's agent (or the supervisors) through `notify` (B22).
        self.notify = notify
        self.notice_policy = NoticePolicy(supervisors=tuple(helpdesk.supervisors), language=helpdesk.language)
        self.batch_size, self.poll_seconds = batch_size, poll_seconds
        self.lanes = outbound.connections if outbound.kind == "smtp" else 1  # sends at once
        self.rng = rng or random.Random()
        self.max_age = timedelta(hours=outbound.max_age_hours)
        self.holder, self.is_dead = holder or worker_id(), is_dead
        self.heartbeat_timeout = heartbeat_timeout
        self.heartbeat_every = heartbeat_every or heartbeat_timeout.total_seconds() / 4
        self._accepted: dict[int, Results] = {}  # recipients that took each row, this process
        self._unrecorded: dict[int, Outcome] = {}  # attempts that ended, not yet written
        self._writer: asyncio.Task[None] | None = None
        self._write_all = False  # write what waits even if it is less than a group (the drain ends)
        self.sent_ids: set[int] = set()  # rows this process has sent: never sent again
        self._breaker_until: float | None = None  # on self.monotonic
        self._breaker_trips = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask `run` to drain now (e.g. right after new mail was queued)."""
        self._wake.set()

    async def run_once(self, progress: Callable[[DrainStats], None] | None = None) -> DrainStats:
        """Drain every due row once; stop early while the server is unreachable."""
        stats = DrainStats()
        if self._breaker_until is not None and self.monotonic() < self._breaker_until:
            stats.deferred = True
            return stats
        # The claims stay this process's while it drains, however long one send takes.
        async with Heartbeat(self._renew, every=self.heartbeat_every, name="outbox claims' heartbeat"):
            try:
                await self._drain(stats, progress)
            finally:
                await self._flush()
        return stats

    async def _drain(self, stats: DrainStats, progress: Callable[[DrainStats], None] | None) -> None:
        # The next batch is claimed while this one is sent, so the claim costs no time of its own.
        upcoming: asyncio.Task[list[ClaimedMail]] | None = asyncio.create_task(asyncio.to_thread(self._claim))
        try:
            for _ in range(MAX_BATCHES_PER_RUN):
                assert upcoming is not None
                batch, upcoming = await upcoming, None
                if not batch:
                    return
                if self._write_failed():
                    await self._flush()  # raises: a failed write stops the drain before more is sent
                upcoming = asyncio.create_task(asyncio.to_thread(self._claim))
                stats.claimed += len(batch)
                untried, unreachable = await self._send_batch(batch, stats, progress)
                if unreachable:
                    await asyncio.to_thread(self._release, [m.id for m in untried])
                    stats.deferred, stats.unreachable = True, unreachable
                    return
        finally:
            if upcoming is not None:  # claimed ahead but not sent: give those rows back at once
                ahead = await upcoming
                await asyncio.to_thread(self._release, [m.id for m in ahead])

    async def _send_batch(
        self, batch: list[ClaimedMail], stats: DrainStats, progress: Callable[[DrainStats], None] | None
    ) -> tuple[list[ClaimedMail], str]:
        """Send the batch in order over `lanes` sends at once; when the server turns out to be
        unreachable, (the mails not tried, why)."""
        waiting, unreachable = deque(batch), ""

        async def lane() -> None:
            nonlocal unreachable
            while waiting and not unreachable:
                mail = waiting.popleft()
                if len(self._unrecorded) >= MAX_UNRECORDED:
                    await self._flush()  # the database lags behind the sending: let it catch up
                try:
                    await self._deliver(mail, stats)
                except ServerUnreachableError as exc:
                    unreachable = unreachable or str(exc)
                    return
                if progress is not None:
                    progress(stats)

        if self.lanes == 1:
            await lane()
            return list(waiting), unreachable
        try:
            async with asyncio.TaskGroup() as lanes:  # one failing (the database) stops the others
                for _ in range(min(self.lanes, len(batch))):
                    lanes.create_task(lane())
        except BaseExceptionGroup as failed:  # the first failure, as one lane would have raised it
            raise failed.exceptions[0] from None
        return list(waiting), unreachable

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set; waits wake on `stop` or `wake()`. The loop never dies."""
        trouble, relay = Trouble("outbox"), Trouble("outbox: SMTP relay")
        while not stop.is_set():
            try:
                stats = await self.run_once()
                trouble.cleared()
                if stats.unreachable:  # an outage: said once, and once when mail flows again
                    relay.report(stats.unreachable, "mail waits in the outbox, retried", level=logging.WARNING)
                elif stats.sent:
                    relay.cleared()
            except DatabaseUnavailableError as exc:  # an outage: said once, not every few seconds
                trouble.report(f"database unavailable: {exc}", "mail waits in the outbox")
            except Exception as exc:  # a fault must not kill the worker
                if not trouble.active:
                    logger.exception("outbox drain failed", extra={"action": "outbox_error"})
                trouble.report(f"{type(exc).__name__}: {exc}", "mail waits in the outbox")
            await self._sleep(stop)

    async def _sleep(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self._wake.clear()

    # -- one row -------------------------------------------------------------------------

    async def _deliver(self, mail: ClaimedMail, stats: DrainStats) -> None:
        settled = self._unrecorded.get(mail.id)
        if mail.id in self.sent_ids or (settled is not None and settled.status != "queued"):
            # Settled before by this process; only the database did not hear of it.
            now = self.clock.now()
            self._record(
                settled or Outcome(outbox_id=mail.id, status="sent", reply="", results=mail.results, sent_at=now)
            )
            stats.recovered += 1
            return
        results = {**mail.results, **self._accepted.get(mail.id, {})}
        pending = _pending(mail, results)
        if not pending:
            self._settle(mail, results, "", stats)
            return
        envelope = verp_address(self.helpdesk.address, mail.id, self.helpdesk.secret.get_secret_value())
        try:
            answer = await self.transport.send(envelope, pending, mail.raw, outbox_id=mail.id)
        except PermanentDeliveryError as exc:
            reply = str(exc)
            results.update({r: (_code_of(reply, 554), reply) for r in pending})
            self._settle(mail, results, reply, stats)
            return
        except TemporaryDeliveryError as exc:
            self._retry(mail, results, str(exc), stats)
            if isinstance(exc, ServerUnreachableError):
                self._trip_breaker()
                raise
            return
        self._breaker_trips, self._breaker_until = 0, None
        results.update(answer)
        self._accepted.setdefault(mail.id, {}).update({r: res for r, res in answer.items() if 200 <= res[0] < 300})
        refused = "; ".join(f"{r}: {res[1]}" for r, res in answer.items() if res[0] >= 400)
        if _pending(mail, results):
            self._retry(mail, results, refused, stats)
        else:
            self._settle(mail, results, refused, stats)

    def _retry(self, mail: ClaimedMail, results: Results, reply: str, stats: DrainStats) -> None:
        now = self.clock.now()
        attempts = mail.attempts + 1
        if queries.is_expired(mail.created_at, now, self.max_age) and (attempts >= queries.MIN_ATTEMPTS_BEFORE_EXPIRY):
            self._settle(mail, results, f"gave up after {attempts} attempts: {reply}", stats)
            return
        next_at = queries.next_attempt(attempts, now, self.rng)
        delay = delivery_failure(mail, results, reply) if attempts == 1 else None  # said once: B20
        retry = Outcome(outbox_id=mail.id, status="queued", reply=reply, results=results, next_attempt_at=next_at)
        self._record(dataclasses.replace(retry, delay=delay))
        stats.retried += 1
        extra = {"action": "outbox_retry", "ticket": mail.ticket_id, "outbox": mail.id}
        logger.info("outbox %s deferred: %s", mail.id, reply, extra=extra)

    def _settle(self, mail: ClaimedMail, results: Results, reply: str, stats: DrainStats) -> None:
        accepted = any(200 <= code < 300 for code, _ in results.values())
        status = "sent" if accepted else "failed"
        now = self.clock.now()
        self._record(
            Outcome(
                outbox_id=mail.id,
                status=status,
                reply=reply,
                results=results,
                sent_at=now if accepted else None,
                next_attempt_at=None if accepted else now,
                failure=None if accepted else delivery_failure(mail, results, reply),
            )
        )
        self._accepted.pop(mail.id, None)
        if accepted:
            self.sent_ids.add(mail.id)
            stats.sent += 1
        else:
            stats.failed += 1
        log = logger.info if accepted and not reply else logger.warning
        log(
            "outbox %s %s%s",
            mail.id,
            status,
            f" ({reply})" if reply else "",
            extra={"action": f"outbox_{status}", "ticket": mail.ticket_id, "outbox": mail.id},
        )

    # -- recording outcomes: a group commit beside the sending ------------------------------

    def _record(self, outcome: Outcome) -> None:
        """Have `outcome` written soon, without waiting for it: sending goes on meanwhile.

        A writer takes the waiting outcomes in one transaction (a group commit) once RECORD_GROUP
        of them wait; `_flush` writes the rest when the drain ends.
        """
        self._unrecorded[outcome.outbox_id] = outcome
        self._start_writer()

    def _start_writer(self, *, everything: bool = False) -> None:
        self._write_all = self._write_all or everything
        if self._writer is not None:
            if not self._writer.done():
                return  # the running writer looks again when its write is done
            if self._write_failed():
                return  # the failed write is reported by the next _flush; outcomes are kept
        if self._writing_due():
            self._writer = asyncio.create_task(self._write_pending())

    def _write_failed(self) -> bool:
        writer = self._writer
        return writer is not None and writer.done() and not writer.cancelled() and writer.exception() is not None

    def _writing_due(self) -> bool:
        return len(self._unrecorded) >= RECORD_GROUP or (self._write_all and bool(self._unrecorded))

    async def _write_pending(self) -> None:
        while self._writing_due():
            outcomes, self._write_all = list(self._unrecorded.values()), False
            await asyncio.to_thread(self._write, outcomes)
            for outcome in outcomes:
                if self._unrecorded.get(outcome.outbox_id) is outcome:
                    del self._unrecorded[outcome.outbox_id]

    async def _flush(self) -> None:
        """Write every outcome now and wait for it; raises what a failed write raised."""
        self._start_writer(everything=True)
        while self._writer is not None:
            writer, self._writer = self._writer, None
            await writer
            self._start_writer(everything=True)

    def _trip_breaker(self) -> None:
        if self._breaker_until is not None and self.monotonic() < self._breaker_until:
            return  # already open: another connection found the server down at the same moment
        self._breaker_trips += 1
        self._breaker_until = self.monotonic() + queries.backoff(self._breaker_trips, self.rng).total_seconds()

    # -- database, run in a worker thread -------------------------------------------------

    def _claim(self) -> list[ClaimedMail]:
        with transaction(self.engine) as connection:
            return queries.claim_due(
                connection,
                self.clock.now(),
                self.batch_size,
                holder=self.holder,
                is_dead=self.is_dead,
                timeout=self.heartbeat_timeout,
            )

    def _renew(self) -> None:
        with transaction(self.engine) as connection:
            queries.renew(connection, self.holder, self.clock.now())

    def _release(self, ids: list[int]) -> None:
        if ids:
            with transaction(self.engine) as connection:
                queries.release(connection, ids, holder=self.holder)

    def _write(self, outcomes: list[Outcome]) -> None:
        failures = [o.failure for o in outcomes if o.failure is not None]
        delays = [o.delay for o in outcomes if o.delay is not None]
        with transaction(self.engine) as connection:
            queries.record_outcomes(connection, outcomes)
            now, notify, policy = self.clock.now(), self.notify, self.notice_policy
            note_failures(connection, failures, now, queue=notify, policy=policy, delays=delays)
