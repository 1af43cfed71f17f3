"""Intake: a mailbox's waiting messages into the spool, then marked on the server, then processed.

For each batch: fetch (sizes checked first), commit bytes and receipts to the spool in one short
transaction, and only then move or flag the messages on the server (invariant 1). The batch just
spooled is processed at once from memory; receipts waiting from earlier (a failure, a crash, the
MTA pipe, a release) are claimed from the spool afterwards.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from mailer.source import Copied, FetchedMessage, MailSource
from tickets.clock import Clock
from tickets.db import read_only, unit_of_work
from tickets.ingest import mailbox, spool
from tickets.ingest.spool import Incoming, ReceiptStatus, Spooled
from tickets.values import IngestAction
from ventanilla.pipeline.failpoints import crash_point
from ventanilla.pipeline.process import Ingestor

logger = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class PollStats:
    """What one pass did."""

    seen: int = 0
    spooled: int = 0
    processed: int = 0
    leftovers: int = 0
    quarantined: int = 0
    failed: int = 0
    waiting: int = 0  # held back by no fault of their own (a template): not counted as attempts
    actions: dict[str, int] = field(default_factory=dict)

    def count(self, results: list[tuple[Spooled, IngestAction]]) -> None:
        for _, action in results:
            self.actions[str(action)] = self.actions.get(str(action), 0) + 1
            if action == IngestAction.QUARANTINED:
                self.quarantined += 1
            elif action == IngestAction.ERROR:
                self.failed += 1
            elif action == IngestAction.WAITING:
                self.waiting += 1
            else:
                self.processed += 1

    def __str__(self) -> str:
        """One line for people: "12 in the folder, 12 spooled; ticketed 10, duplicate 1, waiting 1"."""
        parts = [f"{self.seen} in the folder", f"{self.spooled} spooled"]
        if self.leftovers:
            parts.append(f"{self.leftovers} left from an earlier pass")
        outcomes = ", ".join(f"{action} {n}" for action, n in sorted(self.actions.items()))
        return "; ".join([", ".join(parts), outcomes or "nothing processed"])


@dataclass(frozen=True, slots=True, kw_only=True)
class PollLimits:
    batch_size: int = 100
    batch_bytes: int = 32 * 1024 * 1024
    max_bytes: int = 25 * 1024 * 1024


def plan_batches(uids: list[int], sizes: dict[int, int], limits: PollLimits) -> list[list[int]]:
    """Consecutive batches of at most `batch_size` messages and `batch_bytes` bytes to download
    (a message over `max_bytes` is not downloaded: it weighs nothing; one over `batch_bytes` goes
    alone). UIDs without a size (gone meanwhile) are dropped."""
    batches: list[list[int]] = []
    current: list[int] = []
    weight = 0
    for uid in uids:
        if uid not in sizes:
            continue
        size = sizes[uid] if sizes[uid] <= limits.max_bytes else 0
        if current and (len(current) >= limits.batch_size or weight + size > limits.batch_bytes):
            batches.append(current)
            current, weight = [], 0
        current.append(uid)
        weight += size
    if current:
        batches.append(current)
    return batches


class Poller:
    """One mailbox into the spool, and the spool into tickets. Blocking: the worker runs it in a thread."""

    def __init__(self, source: MailSource, ingestor: Ingestor, engine: Engine, limits: PollLimits) -> None:
        self.source = source
        self.ingestor = ingestor
        self._engine = engine
        self._limits = limits

    @property
    def clock(self) -> Clock:
        return self.ingestor.clock

    def run_once(self, progress: Progress | None = None, keep_going: Callable[[], bool] | None = None) -> PollStats:
        """What waits in the spool first (oldest first: a reply never goes before the message it
        answers), then everything waiting in the folder, in batches.

        `keep_going()` is asked before each batch: a stop request (or a lost lease) ends the
        pass between two batches, never inside one.
        """
        stats = PollStats()
        self.ingestor.process_due(stats.count, keep_going)
        self.take_in(stats, progress, keep_going)
        return stats

    def take_in(
        self,
        stats: PollStats,
        progress: Progress | None = None,
        keep_going: Callable[[], bool] | None = None,
        *,
        hand_off: bool = False,
    ) -> None:
        """The folder's waiting messages into the spool (each batch processed right after; with
        `hand_off`, left in the spool unclaimed for every worker to claim)."""
        self.source.open()
        uidvalidity, uids = self._scan()
        stats.seen = len(uids)
        with read_only(self._engine) as session:
            known = spool.receipts(session, self.source.name, uidvalidity, uids)
        self._finish_leftovers(uidvalidity, known, stats)
        done = {r.key.uid for r in known}
        todo = [u for u in uids if u not in done]
        batches = plan_batches(todo, self.source.sizes(todo), self._limits) if todo else []
        taken = 0
        for batch in batches:
            if keep_going is not None and not keep_going():
                break
            self._take_batch(uidvalidity, batch, stats, hand_off=hand_off)
            taken += len(batch)
            if progress:
                progress(taken, sum(map(len, batches)))

    def _scan(self) -> tuple[int, list[int]]:
        name = self.source.name
        with read_only(self._engine) as session:
            known = mailbox.mailbox_uidvalidity(session, name)
            after = mailbox.high_water_uid(session, name, known) if known else 0
        folder = self.source.scan(after_uid=after)
        if folder.uidvalidity != known:
            if known:
                logger.warning(
                    "UIDVALIDITY of %s changed from %s to %s: full rescan, duplicates recognised",
                    name,
                    known,
                    folder.uidvalidity,
                    extra={"action": "uidvalidity-changed", "mailbox": name},
                )
                folder = self.source.scan(after_uid=0)
            with unit_of_work(self._engine) as session:
                mailbox.save_uidvalidity(session, name, folder.uidvalidity)
        return folder.uidvalidity, list(folder.uids)

    def _finish_leftovers(self, uidvalidity: int, known: list[Spooled], stats: PollStats) -> None:
        """Messages spooled earlier but still in the folder (we stopped before marking them). Those
        copied already (no MOVE) are only deleted; the others may have been copied by the process
        that died before it could record it: the source looks in the folder before copying."""
        copied = [r.key.uid for r in known if r.copied_to]
        quarantined = [r.key.uid for r in known if r.status == ReceiptStatus.QUARANTINED and not r.copied_to]
        spooled = [r.key.uid for r in known if r.key.uid not in quarantined and not r.copied_to]
        record = self._copied_recorder(uidvalidity)
        if copied:
            logger.info(
                "%s message(s) copied before: only deleted from %s",
                len(copied),
                self.source.name,
                extra={"action": "delete-copied", "mailbox": self.source.name},
            )
            self.source.delete_copied(copied)
        if spooled:
            self.source.mark_processed(spooled, on_copied=record, maybe_copied=True)
        if quarantined:
            self.source.mark_quarantined(quarantined, on_copied=record, maybe_copied=True)
        stats.leftovers += len(known)

    def _copied_recorder(self, uidvalidity: int) -> Copied:
        """What the source calls between its COPY and its EXPUNGE: the receipts say "copied"."""

        def record(uids: list[int], folder: str) -> None:
            crash_point("imap:copied")  # copied, not recorded: the restart looks in the folder
            with unit_of_work(self._engine) as session:
                spool.record_copied(session, self.source.name, uidvalidity, uids, folder)
            crash_point("imap:copy-recorded")  # recorded, not deleted: the restart only deletes

        return record

    def _take_batch(self, uidvalidity: int, uids: list[int], stats: PollStats, *, hand_off: bool = False) -> None:
        """Spool a batch (committed), process it from memory, then mark it on the server: moved to
        the quarantine folder when refused, to the processed folder (or flagged) otherwise.
        `hand_off`: spooled unclaimed and marked at once; whichever worker claims it processes it
        (a message that processing quarantines then stays in the processed folder)."""
        fetched = self.source.fetch(uids, max_bytes=self._limits.max_bytes)
        crash_point("intake:fetched")  # downloaded, nothing committed: the restart fetches again
        incoming = [self._incoming(m) for m in fetched]
        spooled = self.ingestor.receive(self.source.name, uidvalidity, incoming, claim=not hand_off)
        crash_point("intake:spooled")  # committed, the server not told yet
        stats.spooled += sum(1 for r in spooled if r.fresh)
        refused = {r.key.uid for r in spooled if r.status == ReceiptStatus.QUARANTINED}
        stats.count([(r, IngestAction.QUARANTINED) for r in spooled if r.key.uid in refused])
        try:
            mine = [r for r in spooled if r.fresh and r.status == ReceiptStatus.RECEIVED and not hand_off]
            outcomes = self.ingestor.process_claimed(mine) if mine else []
            stats.count(outcomes)
            refused |= {r.key.uid for r, action in outcomes if action == IngestAction.QUARANTINED}
        finally:  # spooled is safe: whatever processing did, the server may let these go
            record = self._copied_recorder(uidvalidity)
            if refused:
                self.source.mark_quarantined(sorted(refused), on_copied=record)
            taken = [r.key.uid for r in spooled if r.key.uid not in refused]
            if taken:
                self.source.mark_processed(taken, on_copied=record)

    def _incoming(self, message: FetchedMessage) -> Incoming:
        refused = f"too large: {message.size} bytes (limit {self._limits.max_bytes})" if message.oversize else ""
        return Incoming(
            uid=message.uid,
            raw=message.raw,
            arrived_at=message.arrived_at,
            size=message.size,
            refused=refused,
            header=message.header,
        )
