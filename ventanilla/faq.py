"""The FAQ of `[faq] path`, read and indexed once per App (the worker's: again on SIGHUP); problems logged."""

import asyncio
import logging
from pathlib import Path

from config.settings import Settings
from tickets.faq.entries import FaqEntry, FaqProblem, load_faq
from tickets.faq.match import FaqIndex, Suggestion
from tickets.faq.suggest import FaqPolicy

logger = logging.getLogger(__name__)


def faq_folder(settings: Settings) -> Path | None:
    """The FAQ folder, None when the feature is off (`[faq] path` empty)."""
    return Path(settings.faq.path) if settings.faq.path.strip() else None


def build_index(settings: Settings, entries: list[FaqEntry]) -> FaqIndex:
    return FaqIndex.build(entries, threshold=settings.faq.min_score, relative=settings.faq.relative)


class LiveFaq:
    """The FAQ of `[faq] path` that a worker's ingest and web form share: read at start (a file
    that does not parse is skipped), read again by `reload` (SIGHUP), which keeps the entries in
    use unless every file parses. Suggests from whichever index is current."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._folder = faq_folder(settings)
        self._index = build_index(settings, [])
        if self._folder is not None:
            entries, problems = load_faq(self._folder)
            for problem in problems:
                logger.warning(
                    "FAQ file skipped: %s", problem.line(), extra={"action": "faq", "reason": problem.message}
                )
            self._index = build_index(settings, entries)
            logger.info("FAQ: %d entries from %s", len(entries), self._folder, extra={"action": "faq"})

    @property
    def count(self) -> int:
        """How many entries the current index holds."""
        return len(self._index)

    def suggest(self, text: str, lang: str, limit: int = 3) -> list[Suggestion]:
        return self._index.suggest(text, lang, limit)  # one read of the attribute: a reload swaps it whole

    def policy(self) -> FaqPolicy | None:
        """What the ingest policy suggests from (this, as it is now and after each reload); None when off."""
        if self._folder is None or self._settings.faq.max_suggestions <= 0:
            return None
        return FaqPolicy(index=self, max_suggestions=self._settings.faq.max_suggestions)

    def reload(self) -> str:
        """Read the folder again; when a file does not parse, keep the entries in use and say which
        file in one line (an entry being edited is not dropped meanwhile). Says what it did."""
        return self._take(*self._read())

    async def reload_in_thread(self) -> str:
        """`reload`, reading and indexing in a thread (off the event loop)."""
        return self._take(*await asyncio.to_thread(self._read))

    def _read(self) -> tuple[FaqIndex | None, list[FaqProblem]]:
        """The folder's new index, or None and what is wrong (None, []: the FAQ is off)."""
        if self._folder is None:
            return None, []
        entries, problems = load_faq(self._folder)
        return (None, problems) if problems else (build_index(self._settings, entries), [])

    def _take(self, index: FaqIndex | None, problems: list[FaqProblem]) -> str:
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            logger.error(
                "FAQ not reloaded, the %d entries in use stay: %s%s",
                self.count,
                problems[0].line(),
                more,
                extra={"action": "faq-reload-failed", "reason": problems[0].message},
            )
            return f"FAQ kept: {_entries(self.count)}"
        if index is None:
            return "FAQ off"
        self._index = index
        return f"FAQ reloaded: {_entries(self.count)}"


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def check_faq(settings: Settings) -> tuple[int, list[FaqProblem]] | None:
    """For `ventanilla check`: the entries that load and the files that do not; None when off."""
    folder = faq_folder(settings)
    if folder is None:
        return None
    entries, problems = load_faq(folder)
    return len(entries), problems
