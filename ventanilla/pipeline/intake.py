"""The mailbox poller: scan, fetch, ingest (commit), then move or flag on the server."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from mailer.source import FetchedMessage, MailSource
from tickets import repository as repo
from tickets.db import read_only, unit_of_work
from tickets.values import IngestResult, ReceiptKey
from ventanilla.pipeline.process import Arrival, Ingestor

logger = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(slots=True)
class PollStats:
    """What one pass did."""

    seen: int = 0
    processed: int = 0
    leftovers: int = 0
    quarantined: int = 0
    actions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PollLimits:
    batch_size: int = 100
    max_bytes: int = 25 * 1024 * 1024
    max_attempts: int = 3


class Poller:
    """One mailbox. `run_once()` is blocking: the worker runs it in a thread."""

    def __init__(self, source: MailSource, ingestor: Ingestor, engine: Engine, limits: PollLimits) -> None:
        self.source = source
        self.ingestor = ingestor
        self._engine = engine
        self._limits = limits

    def run_once(self, progress: Progress | None = None, keep_going: Callable[[], bool] | None = None) -> PollStats:
        """Take everything waiting in the folder, oldest first, in batches.

        `keep_going()` is asked before each batch: a stop request (or a lost lease) ends the
        pass between two batches, never inside one.
        """
        stats = PollStats()
        self.source.open()
        uidvalidity, uids = self._scan()
        stats.seen = len(uids)
        with read_only(self._engine) as session:
            done = repo.receipt_statuses(session, self.source.name, uidvalidity, uids)
        self._finish_leftovers(done, stats)
        todo = [u for u in uids if u not in done]
        for start in range(0, len(todo), self._limits.batch_size):
            if keep_going is not None and not keep_going():
                break
            self._run_batch(uidvalidity, todo[start : start + self._limits.batch_size], stats)
            if progress:
                progress(min(start + self._limits.batch_size, len(todo)), len(todo))
        return stats

    def _scan(self) -> tuple[int, list[int]]:
        name = self.source.name
        with read_only(self._engine) as session:
            state = repo.get_mailbox_state(session, name)
            known = state.uidvalidity if state else 0
            after = repo.high_water_uid(session, name, known) if known else 0
        folder = self.source.scan(after_uid=after)
        if folder.uidvalidity != known:
            if known:
                logger.warning(
                    "UIDVALIDITY of %s changed from %s to %s: full rescan, duplicates recognised",
                    name,
                    known,
                    folder.uidvalidity,
                    extra={"action": "uidvalidity-changed"},
                )
                folder = self.source.scan(after_uid=0)
            with unit_of_work(self._engine) as session:
                repo.save_mailbox_state(session, name, folder.uidvalidity)
        return folder.uidvalidity, list(folder.uids)

    def _finish_leftovers(self, done: dict[int, str], stats: PollStats) -> None:
        """Messages committed earlier but still in the folder (we died before moving them)."""
        quarantined = [u for u, s in done.items() if s == "quarantined"]
        finished = [u for u, s in done.items() if s != "quarantined"]
        if finished:
            self.source.mark_processed(finished)
        if quarantined:
            self.source.mark_quarantined(quarantined)
        stats.leftovers += len(done)

    def _run_batch(self, uidvalidity: int, uids: list[int], stats: PollStats) -> None:
        fetched = self.source.fetch(uids, max_bytes=self._limits.max_bytes)
        keys = {m.uid: ReceiptKey(mailbox=self.source.name, uidvalidity=uidvalidity, uid=m.uid) for m in fetched}
        if any(self.ingestor.attempts(list(keys.values())).values()):
            # After a crash, go one message at a time so only the poison one is blamed.
            results = [r for m in fetched for r in self._ingest([m], keys)]
        else:
            results = self._ingest(fetched, keys)
        processed = [m.uid for m, r in zip(fetched, results, strict=True) if r.action not in ("error", "quarantined")]
        quarantined = [m.uid for m, r in zip(fetched, results, strict=True) if r.action == "quarantined"]
        for result in results:
            stats.actions[result.action] = stats.actions.get(result.action, 0) + 1
        self.ingestor.clear_attempts([keys[uid] for uid in processed + quarantined])
        if processed:
            self.source.mark_processed(processed)
        if quarantined:
            self.source.mark_quarantined(quarantined)
        stats.processed += len(processed)
        stats.quarantined += len(quarantined)

    def _ingest(self, messages: list[FetchedMessage], keys: dict[int, ReceiptKey]) -> list[IngestResult]:
        attempts = self.ingestor.bump_attempts([keys[m.uid] for m in messages])
        arrivals = [
            Arrival(
                key=keys[m.uid],
                raw=m.raw,
                arrived_at=m.arrived_at,
                attempts=attempts[m.uid],
                oversize_bytes=m.size if m.oversize else 0,
                key_is_new=True,  # run_once only fetches UIDs without a committed receipt
            )
            for m in messages
        ]
        return self.ingestor.process_batch(arrivals)
