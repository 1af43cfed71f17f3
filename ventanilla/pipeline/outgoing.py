"""Turns the core's outgoing intents into queued mail: template context, rendering, outbox."""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial

from sqlmodel import Session

from config.settings import Settings
from mailer.compose import HeaderValueError
from mailer.drafts import Draft, Unsendable, WriterSetup, Written, new_draft, write, write_all
from mailer.templating import TemplateRenderer
from tickets import repository as repo
from tickets.calendar import service_lines
from tickets.mail_context import template_values
from tickets.outbox import discard
from tickets.values import OutgoingEmail
from ventanilla.pipeline.sender import complete_outgoing, queue_written, reserve_outgoing, store_outgoing

logger = logging.getLogger(__name__)


class OutgoingQueue:
    """Adds what every template needs (helpdesk, phone lines as of now) and queues the mail."""

    def __init__(self, settings: Settings, renderer: TemplateRenderer | None = None) -> None:
        self._settings = settings
        self._renderer = renderer or TemplateRenderer(settings.templates.path, settings.helpdesk.language)
        self._lines_at: datetime | None = None
        self._lines_cache: Mapping[str, object] = {}

    def context(self, intent: OutgoingEmail, now: datetime) -> dict[str, object]:
        """What the template of `intent` sees: the helpdesk, the phone lines now, the intent's own context."""
        helpdesk = self._settings.helpdesk
        return {
            "helpdesk": {"name": helpdesk.name, "address": helpdesk.address},
            **self._lines(now),
            **template_values(intent.context),
        }

    def _lines(self, now: datetime) -> Mapping[str, object]:
        """The phone lines as of this minute (the same for every message queued in it)."""
        minute = now.replace(second=0, microsecond=0)
        if self._lines_at != minute:
            self._lines_at, self._lines_cache = minute, service_lines(self._settings.calendar, minute)
        return self._lines_cache

    def draft(self, intent: OutgoingEmail, now: datetime) -> Draft:
        values = self.context(intent, now)
        return new_draft(intent, values=values, helpdesk=self._settings.helpdesk, reply_to=intent.reply_to, now=now)

    def __call__(self, session: Session, intent: OutgoingEmail, now: datetime) -> None:
        """Render, compose and queue at once."""
        draft = self.draft(intent, now)
        try:
            written = write(draft, renderer=self._renderer, helpdesk=self._settings.helpdesk)
        except HeaderValueError as exc:
            _not_sent(session, draft, str(exc))
            return
        store_outgoing(session, draft, written, helpdesk=self._settings.helpdesk)

    def batch(self, offload: "Offload | None" = None) -> "OutgoingBatch":
        """Queue many now, their mail written meanwhile through `offload` (here, at the end, without one)."""
        setup = WriterSetup(
            templates_path=self._settings.templates.path,
            default_language=self._settings.helpdesk.language,
            helpdesk=self._settings.helpdesk,
        )
        return OutgoingBatch(self, setup, offload)


# Starts fn(items) somewhere (a parsing process) and returns how to get its result.
Offload = Callable[
    [Callable[[list[Draft]], list[Written | Unsendable]], list[Draft]], Callable[[], list[Written | Unsendable]]
]
WRITE_CHUNK = 32  # drafts handed over at a time: written while the batch's next messages are stored
COUNTED_AS_THEY_GO = frozenset({"ack"})  # kinds ingest reads back within a batch (tickets.service rate limit)


class OutgoingBatch:
    """Mail queued by a batch of ingest, written elsewhere meanwhile (in chunks) and stored before
    its commit. Acknowledgements get their outbox rows at once, since the per-sender rate limit
    counts them as the batch goes; every other kind is inserted at the end, in one statement."""

    def __init__(self, queue: OutgoingQueue, setup: WriterSetup, offload: Offload | None = None) -> None:
        self._queue = queue
        self._write = partial(write_all, setup)
        self._helpdesk = setup.helpdesk
        self._offload: Offload = offload or (lambda fn, drafts: partial(fn, drafts))
        self._waiting: list[tuple[int | None, Draft]] = []  # (row id when reserved, draft)
        self._writing: list[tuple[list[tuple[int | None, Draft]], Callable[[], list[Written | Unsendable]]]] = []

    def add(self, session: Session, intent: OutgoingEmail, now: datetime) -> None:
        draft = self._queue.draft(intent, now)
        if intent.kind in COUNTED_AS_THEY_GO:
            row_id = reserve_outgoing(session, draft)
            if row_id is None:
                return  # already queued (idempotency key taken)
            self._waiting.append((row_id, draft))
        else:
            self._waiting.append((None, draft))
        if len(self._waiting) >= WRITE_CHUNK:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._waiting:
            self._writing.append((self._waiting, self._offload(self._write, [d for _, d in self._waiting])))
            self._waiting = []

    def finish(self, session: Session) -> None:
        """Wait for every message to be written and store them: a few statements for the batch."""
        self._hand_over()
        # Last chunk first: those not started yet are taken back and written here while the
        # parsing process finishes the earlier ones (ParseAhead.submit).
        written = [later() for _, later in reversed(self._writing)][::-1]
        paired = [
            (row_id, draft, r)
            for (rows, _), results in zip(self._writing, written, strict=True)
            for (row_id, draft), r in zip(rows, results, strict=True)
        ]
        self._writing = []
        for _, draft, result in paired:
            if isinstance(result, Unsendable):
                _not_sent(session, draft, result.reason)
        discard(session, [row_id for row_id, _, r in paired if row_id is not None and isinstance(r, Unsendable)])
        reserved = [(row_id, d, r) for row_id, d, r in paired if row_id is not None and isinstance(r, Written)]
        complete_outgoing(session, reserved, helpdesk=self._helpdesk)
        fresh = [(d, r) for row_id, d, r in paired if row_id is None and isinstance(r, Written)]
        queue_written(session, fresh, helpdesk=self._helpdesk)


def _not_sent(session: Session, draft: Draft, reason: str) -> None:
    intent = draft.intent
    logger.info("not sent: %s", reason, extra={"action": "unsendable", "ticket": intent.ticket_id})
    if intent.ticket_id is not None:
        repo.add_event(session, intent.ticket_id, draft.now, f"{intent.kind}-not-sent", detail=reason)
