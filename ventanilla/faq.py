"""The FAQ of `[faq] path`, read and indexed once (per worker, per command); problems logged, skipped."""

import logging
from pathlib import Path

from config.settings import Settings
from tickets.faq.entries import FaqEntry, FaqProblem, load_faq
from tickets.faq.match import FaqIndex
from tickets.faq.suggest import FaqPolicy

logger = logging.getLogger(__name__)


def faq_folder(settings: Settings) -> Path | None:
    """The FAQ folder, None when the feature is off (`[faq] path` empty)."""
    return Path(settings.faq.path) if settings.faq.path.strip() else None


def build_index(settings: Settings, entries: list[FaqEntry]) -> FaqIndex:
    return FaqIndex.build(entries, threshold=settings.faq.min_score, relative=settings.faq.relative)


def faq_policy(settings: Settings) -> FaqPolicy | None:
    """What the ingest policy suggests from; each file that does not parse is one warning and is skipped."""
    folder = faq_folder(settings)
    if folder is None or settings.faq.max_suggestions <= 0:
        return None
    entries, problems = load_faq(folder)
    for problem in problems:
        logger.warning("FAQ file skipped: %s", problem.line(), extra={"action": "faq", "reason": problem.message})
    logger.info("FAQ: %d entries from %s", len(entries), folder, extra={"action": "faq"})
    return FaqPolicy(index=build_index(settings, entries), max_suggestions=settings.faq.max_suggestions)


def check_faq(settings: Settings) -> tuple[int, list[FaqProblem]] | None:
    """For `ventanilla check`: the entries that load and the files that do not; None when off."""
    folder = faq_folder(settings)
    if folder is None:
        return None
    entries, problems = load_faq(folder)
    return len(entries), problems
