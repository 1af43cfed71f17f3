"""Saying once what stops the work, and once when it is gone: no log line per retry."""

import logging

logger = logging.getLogger("ventanilla.trouble")


class Trouble:
    """One kind of trouble of one part of the worker (a mailbox, processing, sending)."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._current = ""

    @property
    def active(self) -> bool:
        return bool(self._current)

    def report(self, problem: str, consequence: str, *, level: int = logging.ERROR) -> None:
        """Log `problem` unless it is the one already reported."""
        if problem != self._current:
            logger.log(level, "%s: %s; %s", self._what, problem, consequence, extra={"action": "trouble"})
            self._current = problem

    def cleared(self) -> None:
        """Log that the reported problem is gone (nothing when none was reported)."""
        if self._current:
            logger.warning("%s: working again (was: %s)", self._what, self._current, extra={"action": "trouble-over"})
            self._current = ""
