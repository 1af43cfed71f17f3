"""Process: spooled messages into tickets, each with its consequences and its receipt's new status.

A batch shares one database transaction. It is first stored straight through; should any
message fail, that transaction is rolled back and the batch stored again with each message in
its own SAVEPOINT, so the one that fails rolls back alone (its receipt marked `failed`, retried
later, quarantined after `max_attempts`) and the others commit together (a savepoint for every
message would cost a fifth of the time of ingest when nothing fails). A failure of the database
itself blames no message: the claims are given back and the receipts wait in the spool.
"""

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from mailer.compose import parse_verp
from mailer.errors import TemplateFailedError, UnparseableMessageError
from tickets.clock import Clock
from tickets.db import transaction, unit_of_work
from tickets.errors import DatabaseUnavailableError
from tickets.ingest import order, service, spool
from tickets.ingest.batch import IngestBatch, read_ahead, unseen_message_ids
from tickets.ingest.spool import Incoming, ReceiptStatus, Spooled
from tickets.outbox.queries import Queue
from tickets.values import IncomingMessage, IngestAction, IngestResult, ReceiptKey
from ventanilla.pipeline import oversize
from ventanilla.pipeline.holder import is_dead_here, worker_id
from ventanilla.pipeline.offload import Parse, ParseAhead, Parsed
from ventanilla.pipeline.outgoing import Offload, OutgoingBatch
from ventanilla.pipeline.trouble import Trouble

logger = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(minutes=10)  # a claim not finished by then is taken by another worker
REPLY_WAIT = timedelta(milliseconds=250)  # a reply claimed before the message it answers waits this
CLAIM_TRIES = 5  # claims in a row that were all such replies before a pass gives up
Outcomes = list[tuple[Spooled, IngestAction]]
NOT_PROCESSED = (IngestAction.QUARANTINED, IngestAction.ERROR, IngestAction.WAITING)


# The database failing is no message's fault: the whole batch's claims are given back.
NOT_THE_MESSAGES_FAULT = (OperationalError, DatabaseUnavailableError)
# An operator's template failing is no message's fault either: that message waits (no attempt
# counted), retried after BLOCKED_RETRY, doubling while the fault lasts, up to BLOCKED_RETRY_CAP.
BLOCKED_RETRY = timedelta(seconds=2)
BLOCKED_RETRY_CAP = timedelta(minutes=5)


class _FailedInBatchError(Exception):
    """A message failed in a batch stored without savepoints: store the batch again with them."""


@contextmanager
def _failing_the_batch(what: str) -> Iterator[None]:
    """Any failure but the database's becomes _FailedInBatchError (the batch is stored again carefully)."""
    try:
        yield
    except NOT_THE_MESSAGES_FAULT:
        raise
    except Exception as exc:
        raise _FailedInBatchError(what) from exc


class Ingestor:
    """Turns spooled bytes into committed tickets, receipt outcomes and queued mail."""

    def __init__(
        self,
        engine: Engine,
        *,
        parse: Parse,
        queue: Queue,
        batch: Callable[[Offload], OutgoingBatch] | None = None,
        policy: service.IngestPolicy,
        clock: Clock,
        verp_secret: str = "",
        max_attempts: int = 3,
        parse_processes: int = 0,
        parse_seconds: float = 5.0,
        batch_size: int = 100,
        on_committed: Callable[[], None] | None = None,
        max_bytes: int = 25 * 1024 * 1024,
        observe: Callable[[Sequence[IngestResult], float], None] | None = None,
    ) -> None:
        self._engine = engine
        self._too_large = oversize.Notices(parse, queue, policy, max_bytes)  # its sender is told
        self._parse_ahead = ParseAhead(parse, parse_processes, seconds=parse_seconds)
        self._queue = queue
        self._batch = batch  # mail of a batch written in the parsing process, added at its end
        self._policy = policy
        self.clock = clock
        self._max_attempts = max_attempts
        self._verp_secret = verp_secret
        self._batch_size = batch_size
        self._holder = worker_id()
        self._on_committed = on_committed
        self._observe = observe  # told each committed batch's results and its seconds (the metrics)
        self._blocked_passes = 0
        self._trouble = Trouble("processing")
        self._unreturned: set[int] = set()  # claims a database outage kept us from giving back

    # -- into the spool ---------------------------------------------------------------------

    def receive(
        self, mailbox: str, uidvalidity: int, messages: Sequence[Incoming], *, claim: bool = True
    ) -> list[Spooled]:
        """Commit these messages' bytes and receipts (the spool); new ones are claimed by this
        process (unless not `claim`: any worker takes them from the spool). The sender of one too
        large to take is told, in the same transaction."""
        now = self.clock.now()
        with unit_of_work(self._engine) as session:
            spooled = spool.spool(
                session,
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                messages=messages,
                now=now,
                holder=self._holder if claim else "",
                lease=CLAIM_LEASE,
            )
            told = self._too_large.tell(session, spooled, messages, now)
        if told and self._on_committed:
            self._on_committed()
        return spooled

    def process(self, key: ReceiptKey, raw: bytes, arrived_at: datetime) -> IngestResult:
        """Spool one message and process it at once (each in its own transaction)."""
        incoming = Incoming(uid=key.uid, raw=raw, arrived_at=arrived_at, size=len(raw))
        (receipt,) = self.receive(key.mailbox, key.uidvalidity, [incoming])
        if not receipt.fresh:
            reason = f"receipt {receipt.id} is {receipt.status}"
            return IngestResult(action=IngestAction.ALREADY, ticket_id=receipt.ticket_id, reason=reason)
        return self.process_batch([receipt])[0]

    # -- out of the spool ---------------------------------------------------------------------

    def process_due(self, count: Callable[[Outcomes], None], keep_going: Callable[[], bool] | None = None) -> None:
        """Claim and process the receipts waiting in the spool, a batch at a time, until none is due."""
        while keep_going is None or keep_going():
            claimed = self._claim()
            if not claimed:
                return
            count(self.process_claimed(claimed))

    def _claim(self) -> list[Spooled]:
        """Due receipts, oldest first; a reply whose message is still waiting elsewhere in the
        spool is handed back for a moment (several workers), and the next ones claimed instead."""
        if self._unreturned:  # the database is back: those claims are free again, not leased out
            self._give_back_ids(sorted(self._unreturned))
        for _ in range(CLAIM_TRIES):
            now = self.clock.now()
            with unit_of_work(self._engine) as session:
                claimed = spool.claim_due(
                    session,
                    now=now,
                    holder=self._holder,
                    lease=CLAIM_LEASE,
                    limit=self._batch_size,
                    is_dead=is_dead_here,
                )
                early = set(order.early_replies(session, claimed))
                order.hold_back(session, sorted(early), holder=self._holder, retry_at=now + REPLY_WAIT)
            if len(early) < len(claimed) or not claimed:
                return [r for r in claimed if r.id not in early]
        return []

    def process_claimed(self, claimed: list[Spooled]) -> Outcomes:
        """Process receipts this process holds; a retried one (attempt > 1) alone, so only a poison
        message is blamed for its own failure."""
        if all(r.attempts <= 1 for r in claimed):
            results = self.process_batch(claimed)
        else:
            results = [r for receipt in claimed for r in self.process_batch([receipt])]
        return [(receipt, result.action) for receipt, result in zip(claimed, results, strict=True)]

    def process_batch(self, receipts: Sequence[Spooled]) -> list[IngestResult]:
        """Process these claimed receipts; commit once. Results are in the same order."""
        started = time.perf_counter()
        refusals = [self._refusal(r) for r in receipts]
        raws = [r.raw for r, why in zip(receipts, refusals, strict=True) if not why]
        parsed = self._parse_ahead.start(raws, retried=any(r.attempts > 1 for r in receipts))
        try:
            try:
                results = self._store(receipts, refusals, parsed, careful=len(receipts) == 1)
            except _FailedInBatchError as exc:
                logger.info("a message failed in a batch (%s); storing it again one savepoint each", exc.__cause__)
                results = self._store(receipts, refusals, parsed, careful=True)
        except NOT_THE_MESSAGES_FAULT:
            self._give_back(receipts)
            raise
        if self._observe is not None:
            self._observe(results, time.perf_counter() - started)
        for receipt, result in zip(receipts, results, strict=True):
            _log(receipt, result)
        self._note_blocked([r.reason for r in results if r.action == IngestAction.WAITING])
        if self._on_committed and any(r.outgoing for r in results):
            self._on_committed()
        return results

    def _give_back(self, receipts: Sequence[Spooled]) -> None:
        self._give_back_ids([r.id for r in receipts])

    def _give_back_ids(self, ids: Sequence[int]) -> None:
        try:
            with transaction(self._engine) as connection:
                spool.give_back(connection, ids, holder=self._holder)
        except DatabaseUnavailableError:
            self._unreturned.update(ids)  # given back at the next claim (other processes: at the lease's end)
        else:
            self._unreturned.difference_update(ids)

    def close(self) -> None:
        """Stop the parsing processes, if any."""
        self._parse_ahead.close()

    def _refusal(self, receipt: Spooled) -> str:
        """Why this message goes to quarantine without being parsed; "" when it does not."""
        if receipt.attempts > self._max_attempts:
            return f"poison: processing failed {receipt.attempts - 1} times"
        return ""

    def _store(
        self, receipts: Sequence[Spooled], refusals: list[str], parsed: list[Parsed], *, careful: bool
    ) -> list[IngestResult]:
        """One transaction for the batch. `careful`: a savepoint for each message, so one that
        fails rolls back alone, and its mail written at once; otherwise any failure rolls back the
        whole batch and raises _FailedInBatchError (the parsed messages can be taken again), and
        the batch's outgoing mail (written in the parsing processes meanwhile) and its thread rows
        are inserted at its end."""
        taken = iter(parsed)
        batch = None if careful or self._batch is None else _Batch(self._batch(self._parse_ahead.submit))
        with unit_of_work(self._engine) as session:
            if batch is not None:
                raws = [r.raw for r in receipts]
                batch.state.unseen = unseen_message_ids(session, raws)
                read_ahead(session, batch.state, raws, self.clock.now())
            results = [
                self._quarantine(session, receipt, why)
                if why
                else self._one(session, receipt, next(taken))
                if careful
                else self._straight(session, receipt, next(taken), batch)
                for receipt, why in zip(receipts, refusals, strict=True)
            ]
            with _failing_the_batch("writing its mail and thread rows"):
                if batch is not None:
                    batch.finish(session)
            return results

    def _straight(self, session: Session, receipt: Spooled, parsed: Parsed, batch: "_Batch | None") -> IngestResult:
        with _failing_the_batch(f"uid={receipt.key.uid}"):
            try:
                msg = parsed()
            except UnparseableMessageError as exc:
                return self._quarantine(session, receipt, f"unparseable: {exc}")
            return self._ingest(session, receipt, msg, batch)

    def _one(self, session: Session, receipt: Spooled, parsed: Parsed) -> IngestResult:
        try:
            msg = parsed()
            with session.begin_nested():
                return self._ingest(session, receipt, msg)
        except UnparseableMessageError as exc:
            return self._quarantine(session, receipt, f"unparseable: {exc}")
        except TemplateFailedError as exc:
            return self._wait(session, receipt, str(exc))
        except NOT_THE_MESSAGES_FAULT:
            raise
        except Exception as exc:  # one bad message must not stop the mail behind it
            logger.exception("failed to process uid=%s (attempt %s)", receipt.key.uid, receipt.attempts)
            reason = f"{type(exc).__name__}: {exc}"
            if receipt.attempts >= self._max_attempts:
                return self._quarantine(session, receipt, f"poison: {reason}")
            spool.record_failure(session, receipt.id, attempts=receipt.attempts, reason=reason, now=self.clock.now())
            return IngestResult(action=IngestAction.ERROR, reason=reason)

    def _ingest(
        self, session: Session, receipt: Spooled, msg: IncomingMessage, batch: "_Batch | None" = None
    ) -> IngestResult:
        """Decide and store one message; its mail queued at once, or with the batch's at its end."""
        now = self.clock.now()
        result = service.ingest(
            session,
            key=receipt.key,
            raw=receipt.raw,
            msg=msg,
            arrived_at=receipt.arrived_at,
            now=now,
            policy=self._policy,
            bounce_of=self._bounce_of(msg),
            receipt_id=receipt.id,
            batch=batch.state if batch is not None else None,
        )
        queue = batch.mail.add if batch is not None else self._queue
        for intent in result.outgoing:
            queue(session, intent, now)
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

    def _wait(self, session: Session, receipt: Spooled, reason: str) -> IngestResult:
        delay = min(BLOCKED_RETRY_CAP, BLOCKED_RETRY * 2**self._blocked_passes)
        spool.record_wait(session, receipt.id, reason=f"waiting: {reason}", retry_at=self.clock.now() + delay)
        return IngestResult(action=IngestAction.WAITING, reason=reason)

    def _note_blocked(self, reasons: list[str]) -> None:
        """Say once what holds mail back (and once when it is gone); back off while it lasts."""
        if reasons:
            self._blocked_passes = min(self._blocked_passes + 1, 16)
            self._trouble.report(reasons[0], f"{len(reasons)} message(s) wait")
        elif self._blocked_passes:
            self._blocked_passes = 0
            self._trouble.cleared()

    def _quarantine(self, session: Session, receipt: Spooled, reason: str) -> IngestResult:
        spool.record_outcome(session, receipt.id, status=ReceiptStatus.QUARANTINED, reason=reason, now=self.clock.now())
        return IngestResult(action=IngestAction.QUARANTINED, reason=reason)


@dataclass(slots=True)
class _Batch:
    """A batch stored straight through: its mail, written meanwhile, and the core's batch state
    (acknowledgements counted, thread rows waiting), both inserted at its end."""

    mail: OutgoingBatch
    state: IngestBatch = field(default_factory=IngestBatch)

    def finish(self, session: Session) -> None:
        self.mail.finish(session)
        self.state.finish(session)


def _log(receipt: Spooled, result: IngestResult) -> None:
    """The one line of a message's decision, its fields in `extra` (JSON logs carry them)."""
    level = logging.WARNING if result.action in NOT_PROCESSED else logging.INFO
    key = receipt.key
    fields = {"action": result.action, "ticket": result.ticket_id, "mailbox": key.mailbox, "uid": key.uid}
    extra = {**fields, "message_id": spool.sniff_message_id(receipt.raw), "reason": result.reason}
    logger.log(level, "%s uid=%s ticket=%s %s", result.action, key.uid, result.ticket_id, result.reason, extra=extra)
