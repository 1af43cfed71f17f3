"""The ingest shell: parse one raw message and store it with its consequences in ONE transaction."""

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from mailer.errors import UnparseableMessageError
from tickets import repository as repo
from tickets import service
from tickets.clock import Clock
from tickets.db import read_only, unit_of_work
from tickets.values import IncomingMessage, IngestResult, OutgoingEmail, ReceiptKey

logger = logging.getLogger(__name__)


Parse = Callable[[bytes], IncomingMessage]
Queue = Callable[[Session, OutgoingEmail, datetime], None]


class Ingestor:
    """Turns raw bytes into committed tickets, receipts and queued mail."""

    def __init__(
        self, engine: Engine, *, parse: Parse, queue: Queue, policy: service.IngestPolicy, clock: Clock
    ) -> None:
        self._engine = engine
        self._parse = parse
        self._queue = queue
        self.on_committed: Callable[[IngestResult], None] | None = None
        self._policy = policy
        self._clock = clock

    def process(self, key: ReceiptKey, raw: bytes, arrived_at: datetime) -> IngestResult:
        """Parse and ingest; a message we cannot parse is quarantined, never lost."""
        try:
            msg = self._parse(raw)
        except UnparseableMessageError as exc:
            self.quarantine(key, raw, f"unparseable: {exc}", arrived_at)
            return IngestResult(action="quarantined", reason=str(exc))
        try:
            return self._commit(key, raw, msg, arrived_at)
        except IntegrityError:
            # Another worker committed the same key first: that is the outcome we wanted.
            logger.info("receipt already committed elsewhere", extra={"action": "already", "uid": key.uid})
            return IngestResult(action="already")

    def _commit(self, key: ReceiptKey, raw: bytes, msg: IncomingMessage, arrived_at: datetime) -> IngestResult:
        now = self._clock.now()
        with unit_of_work(self._engine) as session:
            result = service.ingest(
                session, key=key, raw=raw, msg=msg, arrived_at=arrived_at, now=now, policy=self._policy
            )
            for intent in result.outgoing:
                self._queue(session, intent, now)
        logger.info(
            "%s uid=%s ticket=%s %s",
            result.action,
            key.uid,
            result.ticket_id,
            result.reason,
            extra={"action": result.action, "ticket": result.ticket_id, "mailbox": key.mailbox},
        )
        if result.outgoing and self.on_committed:
            self.on_committed(result)
        return result

    def quarantine(self, key: ReceiptKey, raw: bytes, reason: str, arrived_at: datetime) -> None:
        with unit_of_work(self._engine) as session:
            service.quarantine(session, key=key, raw=raw, reason=reason, arrived_at=arrived_at, now=self._clock.now())
        logger.warning(
            "quarantined uid=%s: %s", key.uid, reason, extra={"action": "quarantined", "mailbox": key.mailbox}
        )

    def attempts(self, keys: list[ReceiptKey]) -> dict[int, int]:
        """Processing attempts so far of these uncommitted messages, per UID."""
        with read_only(self._engine) as session:
            return {key.uid: repo.attempts_of(session, key) for key in keys}

    def bump_attempts(self, keys: list[ReceiptKey]) -> dict[int, int]:
        """Record that processing of these messages starts; return attempts so far per UID."""
        with unit_of_work(self._engine) as session:
            return {key.uid: repo.bump_attempts(session, key) for key in keys}
