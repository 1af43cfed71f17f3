"""What a form submission does, synchronously (the app runs it in a thread): caps, spam, spool.

A person's submission goes through the durable spool exactly like a piped message (`ventanilla
deliver`): committed first, then processed at once into a ticket and its acknowledgement. Should
processing fail, the message waits in the spool and the worker takes it (the user still gets the
acknowledgement, only later). A bot's is stored `ignored` in the mail log and answered nothing.
"""

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from config.settings import Settings
from mailer.webform import WebMail, compose_web_mail, web_message_id
from tickets.db import unit_of_work
from tickets.values import IngestAction
from tickets.web.caps import Caps, admit, next_admission, retry_after_seconds
from tickets.web.category import apply_chosen_category
from tickets.web.csrf import CsrfKey
from tickets.web.form import Submission
from tickets.web.spam import WEB_MAILBOX, record_spam
from ventanilla.app import App
from ventanilla.pipeline.process import NOT_THE_MESSAGES_FAULT
from ventanilla.spooling import incoming_of, spool_raw
from ventanilla.wiring import make_ingestor

logger = logging.getLogger("ventanilla.web")
FALLBACK_SUBJECT = {"es": "Consulta desde el formulario web", "en": "Request from the web form"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """Who is on the other end (kept in the message's trace header only)."""

    ip: str
    user_agent: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """`capped` ("ip"/"email") when refused, and in how many seconds to try again; else the ticket
    (None: spam, or processed later)."""

    capped: str = ""
    retry_after: int = 0
    ticket_id: int | None = None
    receipt_id: int | None = None


class WebDesk:
    """The form's side of the pipeline: one Ingestor (parsing in this process), one at a time."""

    def __init__(self, app: App, key: CsrfKey) -> None:
        self._app = app
        self._settings: Settings = app.settings
        self._key = key
        self._ingestor = make_ingestor(app, parse_processes=0)
        self._lock = threading.Lock()  # the Ingestor is not shared between threads
        web = self._settings.web
        self._caps = Caps(per_ip_per_hour=web.per_ip_per_hour, per_email_per_hour=web.per_email_per_hour)

    def close(self) -> None:
        self._ingestor.close()

    def _admit(self, client: Client, email: str, now: datetime) -> Outcome | None:
        """None when admitted (and counted), else the refusal."""
        ip_key, email_key = self._key.pseudonym("ip", client.ip), self._key.pseudonym("email", email.lower())
        with unit_of_work(self._app.engine) as session:
            capped = admit(session, ip_key=ip_key, email_key=email_key, now=now, caps=self._caps)
            if not capped:
                return None
            frees = next_admission(session, ip_key=ip_key, email_key=email_key, now=now, caps=self._caps)
        return Outcome(capped=capped, retry_after=retry_after_seconds(frees, now))

    def _raw(self, mail: WebMail, client: Client, lang: str, now: datetime) -> tuple[bytes, str]:
        message_id = web_message_id(self._settings.helpdesk.address, secrets.token_hex(12))
        raw = compose_web_mail(
            mail,
            to=self._settings.helpdesk.address,
            message_id=message_id,
            client_ip=client.ip,
            user_agent=client.user_agent,
            now=now,
            fallback_subject=FALLBACK_SUBJECT.get(lang, FALLBACK_SUBJECT["es"]),
        )
        return raw, message_id

    def submit(self, submission: Submission, client: Client, lang: str) -> Outcome:
        """A person's valid submission: counted against the caps, spooled, processed."""
        now = self._app.clock.now()
        refused = self._admit(client, submission.email, now)
        if refused:
            logger.info("web form: submission refused, the per-%s cap is reached", refused.capped)
            return refused
        attachment = submission.attachment
        mail = WebMail(
            name=submission.name,
            email=submission.email,
            subject=submission.subject,
            message=submission.message,
            category=submission.category,
            attachment=(attachment.filename, attachment.content_type, attachment.data) if attachment else None,
            language=lang,  # the page's: the acknowledgement's, whatever the language of the text
        )
        raw, _ = self._raw(mail, client, lang, now)
        with self._lock:
            receipt = spool_raw(self._ingestor, WEB_MAILBOX, raw, now)
            try:
                result = self._ingestor.process_batch([receipt])[0]
            except NOT_THE_MESSAGES_FAULT:  # committed in the spool: the worker processes it
                logger.warning("web form: receipt %s spooled, processing waits for the worker", receipt.id)
                return Outcome(receipt_id=receipt.id)
        ticket = result.ticket_id if result.action == IngestAction.TICKETED else None
        if ticket is not None and submission.category:
            with unit_of_work(self._app.engine) as session:
                apply_chosen_category(session, ticket, submission.category, now)
        logger.info("web form: ticket #%s (receipt %s)", ticket, receipt.id, extra={"ticket": ticket})
        return Outcome(ticket_id=ticket, receipt_id=receipt.id)

    def ignore(self, *, reason: str, email: str, name: str, subject: str, client: Client, lang: str) -> Outcome:
        """A bot's submission: counted against the caps too, kept as `ignored`, nothing sent."""
        now = self._app.clock.now()
        refused = self._admit(client, email, now)
        if refused:
            return refused
        address = email if "@" in email and " " not in email else "unknown@invalid.invalid"
        mail = WebMail(name=name[:200], email=address[:254], subject=subject[:200], message="(spam)")
        try:
            raw, message_id = self._raw(mail, client, lang, now)
        except (ValueError, IndexError):
            mail = WebMail(name="", email="unknown@invalid.invalid", subject="", message="(spam)")
            raw, message_id = self._raw(mail, client, lang, now)
        with unit_of_work(self._app.engine) as session:
            receipt_id = record_spam(
                session,
                incoming_of(raw, now),
                reason=reason,
                sender=(address[:320], name[:500]),
                subject=subject,
                message_id=message_id,
                now=now,
            )
        logger.info("web form: %s (receipt %s)", reason, receipt_id)
        return Outcome(receipt_id=receipt_id)


def min_fill(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.web.min_fill_seconds)
