"""The ingest shell: parse raw messages and store each with its consequences atomically.

A batch shares one database transaction. It is first stored straight through; should any
message fail, that transaction is rolled back and the batch stored again with each message in
its own SAVEPOINT, so the one that fails rolls back alone and the others commit together (a
savepoint for every message would cost a fifth of the time of ingest when nothing fails).
Nothing is moved on the server before the commit (invariant 1).
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from mailer.compose import parse_verp
from mailer.errors import UnparseableMessageError
from tickets import repository as repo
from tickets import service
from tickets.clock import Clock
from tickets.db import read_only, unit_of_work
from tickets.inserts import deferred_writes, flush_deferred
from tickets.values import IncomingMessage, IngestResult, OutgoingEmail, ReceiptKey
from ventanilla.pipeline.offload import Parse, ParseAhead, Parsed
from ventanilla.pipeline.outgoing import OutgoingBatch, OutgoingQueue

logger = logging.getLogger(__name__)

Queue = Callable[[Session, OutgoingEmail, datetime], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """One fetched message to ingest; `attempts` counts this one."""

    key: ReceiptKey
    raw: bytes
    arrived_at: datetime
    attempts: int = 1
    oversize_bytes: int = 0  # > 0: not downloaded, too large
    key_is_new: bool = False  # the caller saw no receipt with this key just before


class _FailedInBatchError(Exception):
    """A message failed in a batch stored without savepoints: store the batch again with them."""


@contextmanager
def _failing_the_batch(what: str) -> Iterator[None]:
    """Any failure but the database's becomes _FailedInBatchError (the batch is stored again carefully)."""
    try:
        yield
    except OperationalError:
        raise
    except Exception as exc:
        raise _FailedInBatchError(what) from exc


class Ingestor:
    """Turns raw bytes into committed tickets, receipts and queued mail."""

    def __init__(
        self,
        engine: Engine,
        *,
        parse: Parse,
        queue: Queue,
        policy: service.IngestPolicy,
        clock: Clock,
        verp_secret: str = "",
        max_bytes: int = 25 * 1024 * 1024,
        max_attempts: int = 3,
        parse_processes: int = 0,
    ) -> None:
        self._engine = engine
        self._parse_ahead = ParseAhead(parse, parse_processes)
        self._queue = queue
        self._policy = policy
        self._clock = clock
        self._max_bytes = max_bytes
        self._max_attempts = max_attempts
        self._verp_secret = verp_secret
        self.on_committed: Callable[[list[IngestResult]], None] | None = None

    def process(self, key: ReceiptKey, raw: bytes, arrived_at: datetime) -> IngestResult:
        """Ingest one message in its own transaction."""
        return self.process_batch([Arrival(key=key, raw=raw, arrived_at=arrived_at)])[0]

    def process_batch(self, arrivals: Sequence[Arrival]) -> list[IngestResult]:
        """Ingest these messages; commit once. Results are in the same order."""
        refusals = [self._refusal(a) for a in arrivals]
        parsed = self._parse_ahead.start([a.raw for a, why in zip(arrivals, refusals, strict=True) if not why])
        try:
            results = self._store(arrivals, refusals, parsed, careful=len(arrivals) == 1)
        except _FailedInBatchError as exc:
            logger.info("a message failed in a batch (%s); storing the batch again one savepoint each", exc.__cause__)
            results = self._store(arrivals, refusals, parsed, careful=True)
        for arrival, result in zip(arrivals, results, strict=True):
            _log(arrival.key, result)
        if self.on_committed and any(r.outgoing for r in results):
            self.on_committed(results)
        return results

    def close(self) -> None:
        """Stop the parsing processes, if any."""
        self._parse_ahead.close()

    def _refusal(self, arrival: Arrival) -> str:
        """Why this message goes to quarantine without being parsed; "" when it does not."""
        if arrival.oversize_bytes:
            return f"too large: {arrival.oversize_bytes} bytes (limit {self._max_bytes})"
        if arrival.attempts > self._max_attempts:
            return f"poison: processing failed {arrival.attempts - 1} times"
        return ""

    def _store(
        self, arrivals: Sequence[Arrival], refusals: list[str], parsed: list[Parsed], *, careful: bool
    ) -> list[IngestResult]:
        """One transaction for the batch. `careful`: a savepoint for each message, so one that
        fails rolls back alone, and its mail written at once; otherwise any failure rolls back the
        whole batch and raises _FailedInBatchError (the parsed messages can be taken again), and
        the batch's outgoing mail is written at its end, in the parsing processes."""
        taken = iter(parsed)
        batch = (
            None
            if careful or not isinstance(self._queue, OutgoingQueue)
            else self._queue.batch(self._parse_ahead.submit)
        )
        with unit_of_work(self._engine) as session, nullcontext() if careful else deferred_writes(session):
            results = [
                self._quarantine(session, arrival, why)
                if why
                else self._one(session, arrival, next(taken))
                if careful
                else self._straight(session, arrival, next(taken), batch)
                for arrival, why in zip(arrivals, refusals, strict=True)
            ]
            with _failing_the_batch("writing its mail and deferred rows"):
                if batch is not None:
                    batch.finish(session)
                flush_deferred(session)
            return results

    def _straight(
        self, session: Session, arrival: Arrival, parsed: Parsed, batch: OutgoingBatch | None
    ) -> IngestResult:
        with _failing_the_batch(f"uid={arrival.key.uid}"):
            try:
                msg = parsed()
            except UnparseableMessageError as exc:
                return self._quarantine(session, arrival, f"unparseable: {exc}")
            return self._ingest(session, arrival, msg, batch.add if batch is not None else self._queue)

    def _one(self, session: Session, arrival: Arrival, parsed: Parsed) -> IngestResult:
        try:
            msg = parsed()
            with session.begin_nested():
                return self._ingest(session, arrival, msg)
        except UnparseableMessageError as exc:
            return self._quarantine(session, arrival, f"unparseable: {exc}")
        except IntegrityError:
            # Another worker committed the same key first: the outcome we wanted.
            return IngestResult(action="already", reason="committed by another worker")
        except OperationalError:
            raise
        except Exception as exc:  # one bad message must not stop the mail behind it
            logger.exception("failed to ingest uid=%s (attempt %s)", arrival.key.uid, arrival.attempts)
            if arrival.attempts >= self._max_attempts:
                return self._quarantine(session, arrival, f"poison: {type(exc).__name__}: {exc}")
            return IngestResult(action="error", reason=f"{type(exc).__name__}: {exc}")

    def _ingest(
        self, session: Session, arrival: Arrival, msg: IncomingMessage, queue: Queue | None = None
    ) -> IngestResult:
        now = self._clock.now()
        result = service.ingest(
            session,
            key=arrival.key,
            raw=arrival.raw,
            msg=msg,
            arrived_at=arrival.arrived_at,
            now=now,
            policy=self._policy,
            bounce_of=self._bounce_of(msg),
            key_is_new=arrival.key_is_new,
        )
        for intent in result.outgoing:
            (queue or self._queue)(session, intent, now)
        return result

    def _bounce_of(self, msg: IncomingMessage) -> int | None:
        """The outbox row a bounce concerns, when it reached our signed VERP address."""
        if not self._verp_secret:
            return None
        for address in (*msg.envelope_to, *(a.email for a in msg.to)):
            outbox_id = parse_verp(address, self._policy.helpdesk_address, self._verp_secret)
            if outbox_id is not None:
                return outbox_id
        return None

    def _quarantine(self, session: Session, arrival: Arrival, reason: str) -> IngestResult:
        with session.begin_nested():
            service.quarantine(
                session,
                key=arrival.key,
                raw=arrival.raw,
                reason=reason,
                arrived_at=arrival.arrived_at,
                now=self._clock.now(),
            )
        return IngestResult(action="quarantined", reason=reason)

    def attempts(self, keys: list[ReceiptKey]) -> dict[int, int]:
        """Processing attempts so far of these uncommitted messages, per UID."""
        with read_only(self._engine) as session:
            return repo.attempts_of(session, keys)

    def bump_attempts(self, keys: list[ReceiptKey]) -> dict[int, int]:
        """Record that processing of these messages starts; return the attempts per UID."""
        with unit_of_work(self._engine) as session:
            return repo.bump_attempts(session, keys)

    def clear_attempts(self, keys: list[ReceiptKey]) -> None:
        with unit_of_work(self._engine) as session:
            repo.clear_attempts(session, keys)


def _log(key: ReceiptKey, result: IngestResult) -> None:
    level = logging.WARNING if result.action in ("quarantined", "error") else logging.INFO
    logger.log(
        level,
        "%s uid=%s ticket=%s %s",
        result.action,
        key.uid,
        result.ticket_id,
        result.reason,
        extra={"action": result.action, "ticket": result.ticket_id, "mailbox": key.mailbox},
    )
