"""Turns the core's outgoing intents into queued mail: template context, rendering, outbox."""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial

from sqlmodel import Session

from config.settings import HelpdeskSettings, Settings
from mailer.compose import HeaderValueError
from mailer.drafts import Draft, Unsendable, WriterSetup, Written, new_draft, write, write_all
from mailer.templating import TemplateRenderer
from tickets import threads
from tickets.mail_context import template_values
from tickets.outbox.writer import RenderedMail, write_outbox
from tickets.report.quiet import quiet_hours, quiet_spans
from tickets.sla.calendar import service_lines
from tickets.values import OutgoingEmail

logger = logging.getLogger(__name__)


class OutgoingQueue:
    """Adds what every template needs (helpdesk, phone lines as of now) and queues the mail."""

    def __init__(self, settings: Settings, renderer: TemplateRenderer | None = None) -> None:
        self._settings = settings
        self._renderer = renderer or TemplateRenderer.frozen(settings.templates.path, settings.helpdesk.language)
        self._sources = self._renderer.snapshot()  # what parsing processes render from, until a reload
        self._generation = 0  # of the templates: bumped by each reload, so parsing processes reload too
        self._lines_at: datetime | None = None
        self._lines_cache: Mapping[str, object] = {}
        self._quiet_at: tuple[int, ...] = ()
        self._quiet_cache: tuple[tuple[str, str], ...] = ()

    def reload_templates(self) -> bool:
        """Read the template files again (SIGHUP); when one does not compile, keep those in use and
        say which (mail goes on being written with the old ones). True when reloaded."""
        fresh = TemplateRenderer.frozen(self._settings.templates.path, self._settings.helpdesk.language)
        broken = fresh.broken()
        if broken:
            logger.error(
                "templates not reloaded, the old ones stay in use: %s",
                "; ".join(broken),
                extra={"action": "templates-reload-failed"},
            )
            return False
        self._renderer, self._sources, self._generation = fresh, fresh.snapshot(), self._generation + 1
        logger.info("templates reloaded", extra={"action": "templates-reloaded"})
        return True

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

    def _quiet(self, session: Session, now: datetime) -> tuple[tuple[str, str], ...]:
        """The quietest hours to call (last month's call log), read again at most once an hour."""
        hour = (now.year, now.month, now.day, now.hour)
        if self._quiet_at != hour:
            windows = quiet_hours(session, now=now, timezone=self._settings.calendar.timezone)
            self._quiet_at, self._quiet_cache = hour, quiet_spans(windows)
        return self._quiet_cache

    def draft(self, intent: OutgoingEmail, now: datetime, session: Session | None = None) -> Draft:
        values = self.context(intent, now)
        if intent.kind == "ack" and session is not None:
            values["quiet_hours"] = self._quiet(session, now)
        return new_draft(intent, values=values, helpdesk=self._settings.helpdesk, reply_to=intent.reply_to, now=now)

    def __call__(self, session: Session, intent: OutgoingEmail, now: datetime) -> None:
        """Render, compose and write to the outbox at once, in the caller's transaction."""
        draft = self.draft(intent, now, session)
        try:
            written: Written | Unsendable = write(draft, renderer=self._renderer, helpdesk=self._settings.helpdesk)
        except HeaderValueError as exc:
            written = Unsendable(reason=str(exc))
        store(session, [(draft, written)], sender=self._settings.helpdesk.address)

    def batch(self, offload: "Offload | None" = None) -> "OutgoingBatch":
        """Queue many now, their mail written meanwhile through `offload` (here, at the end, without one)."""
        setup = WriterSetup(
            templates_path=self._settings.templates.path,
            default_language=self._settings.helpdesk.language,
            helpdesk=self._settings.helpdesk,
            generation=self._generation,
            sources=self._sources,
        )
        return OutgoingBatch(self, setup, offload)


# Starts fn(items) somewhere (a parsing process) and returns how to get its result.
Offload = Callable[
    [Callable[[list[Draft]], list[Written | Unsendable]], list[Draft]], Callable[[], list[Written | Unsendable]]
]
WRITE_CHUNK = 32  # drafts handed over at a time: written while the batch's next messages are stored


class OutgoingBatch:
    """Mail queued by a batch of ingest, written elsewhere meanwhile (in chunks) and added to the
    outbox at the end of the batch, in one statement. (The per-sender cap on acknowledgements
    counts those of the batch itself: tickets.ingest.service.IngestBatch.)"""

    def __init__(self, queue: OutgoingQueue, setup: WriterSetup, offload: Offload | None = None) -> None:
        self._queue = queue
        self._write = partial(write_all, setup)
        self._sender = setup.helpdesk.address
        self._offload: Offload = offload or (lambda fn, drafts: partial(fn, drafts))
        self._waiting: list[Draft] = []
        self._writing: list[tuple[list[Draft], Callable[[], list[Written | Unsendable]]]] = []

    def add(self, session: Session, intent: OutgoingEmail, now: datetime) -> None:
        self._waiting.append(self._queue.draft(intent, now, session))
        if len(self._waiting) >= WRITE_CHUNK:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._waiting:
            self._writing.append((self._waiting, self._offload(self._write, self._waiting)))
            self._waiting = []

    def finish(self, session: Session) -> None:
        """Wait for every message to be written and store them: two statements for the batch."""
        self._hand_over()
        # Last chunk first: those not started yet are taken back and written here while the
        # parsing process finishes the earlier ones (ParseAhead.submit).
        written = [later() for _, later in reversed(self._writing)][::-1]
        paired = [
            (draft, result)
            for (drafts, _), results in zip(self._writing, written, strict=True)
            for draft, result in zip(drafts, results, strict=True)
        ]
        self._writing = []
        store(session, paired, sender=self._sender)


def store(session: Session, written: list[tuple[Draft, Written | Unsendable]], *, sender: str) -> dict[str, int]:
    """Written drafts into the outbox (tickets.outbox.writer); an unsendable one leaves an
    `<kind>-not-sent` event on its ticket instead. The row id of each message added, by key."""
    for draft, result in written:
        if isinstance(result, Unsendable):
            _not_sent(session, draft, result.reason)
    mails = [rendered(draft, result, sender) for draft, result in written if isinstance(result, Written)]
    return write_outbox(session, mails)


def rendered(draft: Draft, written: Written, sender: str) -> RenderedMail:
    return RenderedMail(
        intent=draft.intent,
        message_id=draft.message_id,
        raw=written.raw,
        subject=written.subject,
        text=written.text,
        sender=sender,
        now=draft.now,
    )


def queue_outgoing(
    session: Session,
    intent: OutgoingEmail,
    *,
    values: Mapping[str, object],
    renderer: TemplateRenderer,
    helpdesk: HelpdeskSettings,
    reply_to: str,
    now: datetime,
) -> int | None:
    """Render `values` (the template's full context), compose and add `intent` to the outbox in the
    caller's transaction; its row id, None when its idempotency key was taken already."""
    draft = new_draft(intent, values=values, helpdesk=helpdesk, reply_to=reply_to, now=now)
    written = write(draft, renderer=renderer, helpdesk=helpdesk)
    return store(session, [(draft, written)], sender=helpdesk.address).get(intent.idempotency_key)


def _not_sent(session: Session, draft: Draft, reason: str) -> None:
    intent = draft.intent
    logger.info("not sent: %s", reason, extra={"action": "unsendable", "ticket": intent.ticket_id})
    if intent.ticket_id is not None:
        threads.add_event(session, intent.ticket_id, draft.now, f"{intent.kind}-not-sent", detail=reason)
