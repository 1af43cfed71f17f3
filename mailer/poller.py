"""The mailbox poller: scan, fetch, ingest (commit), then move or flag on the server."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from mailer.inbound import Ingestor
from mailer.source import FetchedMessage, MailSource
from tickets import repository as repo
from tickets.db import read_only, unit_of_work
from tickets.errors import DatabaseUnavailableError
from tickets.values import ReceiptKey

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
        self._ingestor = ingestor
        self._engine = engine
        self._limits = limits

    def run_once(self, progress: Progress | None = None) -> PollStats:
        """Take everything waiting in the folder, oldest first, in batches."""
        stats = PollStats()
        self.source.open()
        uidvalidity, uids = self._scan()
        stats.seen = len(uids)
        with read_only(self._engine) as session:
            done = repo.receipt_statuses(session, self.source.name, uidvalidity, uids)
        self._finish_leftovers(done, stats)
        todo = [u for u in uids if u not in done]
        for start in range(0, len(todo), self._limits.batch_size):
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
        careful = any(self._ingestor.attempts(list(keys.values())).values())
        # After a crash, count attempts one message at a time so only the poison one is blamed.
        attempts = {} if careful else self._ingestor.bump_attempts(list(keys.values()))
        processed: list[int] = []
        quarantined: list[int] = []
        for message in fetched:
            key = keys[message.uid]
            tries = self._ingestor.bump_attempts([key])[key.uid] if careful else attempts[key.uid]
            action = self._process(key, message, tries)
            stats.actions[action] = stats.actions.get(action, 0) + 1
            if action == "quarantined":
                quarantined.append(message.uid)
            elif action != "error":
                processed.append(message.uid)
        if processed:
            self.source.mark_processed(processed)
        if quarantined:
            self.source.mark_quarantined(quarantined)
        stats.processed += len(processed)
        stats.quarantined += len(quarantined)

    def _process(self, key: ReceiptKey, message: FetchedMessage, attempts: int) -> str:
        if message.oversize:
            reason = f"too large: {message.size} bytes (limit {self._limits.max_bytes})"
            self._ingestor.quarantine(key, b"", reason, message.arrived_at)
            return "quarantined"
        if attempts > self._limits.max_attempts:
            self._ingestor.quarantine(
                key, message.raw, f"poison: processing failed {attempts - 1} times", message.arrived_at
            )
            return "quarantined"
        try:
            return self._ingestor.process(key, message.raw, message.arrived_at).action
        except DatabaseUnavailableError:
            raise
        except Exception as exc:  # one bad message must not stop the mail behind it
            logger.exception("failed to ingest uid=%s (attempt %s)", key.uid, attempts, extra={"action": "error"})
            if attempts >= self._limits.max_attempts:
                self._ingestor.quarantine(key, message.raw, f"poison: {type(exc).__name__}: {exc}", message.arrived_at)
                return "quarantined"
            return "error"
