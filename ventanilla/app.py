"""The App: built once by the wiring, the one way a use case runs (CLI, scheduler, pipeline)."""

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.engine import Engine

from config.settings import Settings
from tickets.clock import Clock
from tickets.db import unit_of_work
from tickets.values import OutgoingEmail
from tickets.work import R, Work, outgoing_of
from ventanilla.faq import LiveFaq
from ventanilla.pipeline.failpoints import crash_point
from ventanilla.pipeline.outgoing import OutgoingQueue


def _nobody() -> None:
    """No sender to wake (a CLI command: the worker sends it)."""


class App:
    """Settings, the database, the clock, the one outbox queue (one template renderer) and the one
    FAQ (read when first needed: the worker's pipeline and web form share it, SIGHUP reloads it)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        clock: Clock,
        *,
        wake: Callable[[], None] = _nobody,
        outbox: OutgoingQueue | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.outbox = outbox or OutgoingQueue(settings)
        self.wake = wake
        self._faq: LiveFaq | None = None
        self._faq_lock = threading.Lock()

    @property
    def faq(self) -> LiveFaq:
        with self._faq_lock:
            if self._faq is None:
                self._faq = LiveFaq(self.settings)
            return self._faq

    def run(
        self,
        work: Work[R],
        *,
        now: datetime | None = None,
        mail: Callable[[R], Iterable[OutgoingEmail]] = outgoing_of,
        name: str = "",
    ) -> R:
        """`work(session, now)` in one unit of work with the mail it returned queued in it; commit;
        then wake the sender. A `name` gives the work crash points for fault tests
        (`before-commit:<name>`, `after-commit:<name>`)."""
        at = now or self.clock.now()
        with unit_of_work(self.engine) as session:
            result = work(session, at)
            intents = list(mail(result))
            for intent in intents:
                self.outbox(session, intent, at)
            if name:
                crash_point(f"before-commit:{name}")
        if name:
            crash_point(f"after-commit:{name}")
        if intents:
            self.wake()
        return result
