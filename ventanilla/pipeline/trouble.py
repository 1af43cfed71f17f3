"""Saying once what stops the work, and once when it is gone: no log line per retry."""

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("ventanilla.trouble")


class Trouble:
    """One part of the worker's trouble (a mailbox, processing, sending): the first report of a
    problem is logged, repeats are only counted, and the end is logged with the count."""

    def __init__(self, what: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._monotonic = monotonic
        self._current = ""
        self._since = 0.0
        self._repeats = 0

    @property
    def active(self) -> bool:
        return bool(self._current)

    def report(self, problem: str, consequence: str, *, level: int = logging.ERROR) -> None:
        """Log `problem` unless it is the one already reported (then it is counted)."""
        if problem == self._current:
            self._repeats += 1
            return
        if not self._current:
            self._since = self._monotonic()
        self._current, self._repeats = problem, 1
        logger.log(level, "%s: %s; %s", self._what, problem, consequence, extra={"action": "trouble"})

    def cleared(self) -> None:
        """Log that the reported problem is gone (nothing when none was reported)."""
        if self._current:
            lasted = self._monotonic() - self._since
            logger.warning(
                "%s: working again after %d failed attempt(s) in %.0f s (last: %s)",
                self._what,
                self._repeats,
                lasted,
                self._current,
                extra={"action": "trouble-over"},
            )
            self._current, self._repeats = "", 0
