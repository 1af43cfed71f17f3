"""Turns the core's outgoing intents into queued mail: template context, rendering, outbox."""

import logging
from datetime import datetime

from sqlmodel import Session

from config.settings import Settings
from mailer.compose import HeaderValueError
from mailer.outbox import queue_outgoing
from mailer.templating import TemplateRenderer
from tickets import repository as repo
from tickets.calendar import service_lines
from tickets.values import OutgoingEmail

logger = logging.getLogger(__name__)


class OutgoingQueue:
    """Adds what every template needs (helpdesk, phone lines as of now) and queues the mail."""

    def __init__(self, settings: Settings, renderer: TemplateRenderer | None = None) -> None:
        self._settings = settings
        self._renderer = renderer or TemplateRenderer(settings.templates.path, settings.helpdesk.language)
        self._lines_at: datetime | None = None
        self._lines_cache: dict[str, object] = {}

    def context(self, intent: OutgoingEmail, now: datetime) -> dict[str, object]:
        helpdesk = self._settings.helpdesk
        return {
            "helpdesk": {"name": helpdesk.name, "address": helpdesk.address},
            "response_hours": 24,
            **self._lines(now),
            **intent.context,
        }

    def _lines(self, now: datetime) -> dict[str, object]:
        """The phone lines as of this minute (the same for every message queued in it)."""
        minute = now.replace(second=0, microsecond=0)
        if self._lines_at != minute:
            self._lines_at, self._lines_cache = minute, service_lines(self._settings.calendar, minute)
        return self._lines_cache

    def __call__(self, session: Session, intent: OutgoingEmail, now: datetime) -> None:
        full = OutgoingEmail(**{**_fields(intent), "context": self.context(intent, now)})
        try:
            queue_outgoing(
                session,
                full,
                renderer=self._renderer,
                helpdesk=self._settings.helpdesk,
                reply_to=str(intent.context.get("reply_to") or self._settings.helpdesk.address),
                now=now,
            )
        except HeaderValueError as exc:
            logger.info("not sent: %s", exc, extra={"action": "unsendable", "ticket": intent.ticket_id})
            if intent.ticket_id is not None:
                repo.add_event(session, intent.ticket_id, now, f"{intent.kind}-not-sent", detail=str(exc))


def _fields(intent: OutgoingEmail) -> dict[str, object]:
    return {name: getattr(intent, name) for name in intent.__dataclass_fields__}
