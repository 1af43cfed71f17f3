"""Outgoing mail written from a draft: template rendered, MIME composed. Pure, in any process.

A draft is an intent with everything decided that the outbox row needs (its Message-ID, the
time, the Reply-To), so writing it needs no database: ingest hands a whole batch's drafts to
its parsing process while this one stores the next messages.
"""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from config.settings import HelpdeskSettings
from mailer.compose import HeaderValueError, compose_email, make_message_id
from mailer.templating import TemplateRenderer
from tickets.values import OutgoingEmail


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """An intent with its full template context and the fixed parts of its message."""

    intent: OutgoingEmail
    values: Mapping[str, object]  # what the template sees: the intent's typed context and the shell's values
    message_id: str
    reply_to: str
    now: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Written:
    """A draft turned into wire bytes, with what the ticket's thread shows of it."""

    raw: bytes
    subject: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsendable:
    """A draft that cannot become a message (a recipient or header value refused by compose)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WriterSetup:
    """What writing needs besides the draft; small and picklable, sent with each batch."""

    templates_path: str
    default_language: str
    helpdesk: HelpdeskSettings
    generation: int = 0  # bumped when the templates are reloaded (SIGHUP): a fresh renderer reads them
    # The templates as the worker read them at start or at its last reload (not the files now:
    # one edited but not reloaded must not reach a parsing process started meanwhile).
    sources: Mapping[str, str] | None = None


def new_draft(
    intent: OutgoingEmail, *, values: Mapping[str, object], helpdesk: HelpdeskSettings, reply_to: str, now: datetime
) -> Draft:
    """Fix the Message-ID (stored with the row, so a retry resends the same one) and Reply-To."""
    message_id = make_message_id(
        kind=intent.kind,
        ticket_id=intent.ticket_id,
        domain=helpdesk.address,
        # Never a reply token in here: a Message-ID travels in the References of the whole thread.
        unique=f"{int(now.timestamp())}.{secrets.token_hex(6)}",
    )
    return Draft(intent=intent, values=values, message_id=message_id, reply_to=reply_to or helpdesk.address, now=now)


def write(draft: Draft, *, renderer: TemplateRenderer, helpdesk: HelpdeskSettings) -> Written:
    """Render and compose; HeaderValueError when a value cannot go in a header."""
    intent = draft.intent
    rendered = renderer.render(intent.kind, intent.language, draft.values)
    raw = compose_email(
        intent, rendered, helpdesk=helpdesk, message_id=draft.message_id, reply_to=draft.reply_to, now=draft.now
    )
    return Written(raw=raw, subject=rendered.subject, text=rendered.text)


def write_all(setup: WriterSetup, drafts: list[Draft]) -> list[Written | Unsendable]:
    """Each draft written, in order (runs in a parsing process; the renderer is built once there)."""
    renderer = _renderer(setup)
    out: list[Written | Unsendable] = []
    for draft in drafts:
        try:
            out.append(write(draft, renderer=renderer, helpdesk=setup.helpdesk))
        except HeaderValueError as exc:
            out.append(Unsendable(reason=str(exc)))
    return out


_RENDERERS: dict[tuple[str, str, int], TemplateRenderer] = {}


def _renderer(setup: WriterSetup) -> TemplateRenderer:
    """This process's renderer of the setup's templates, built once per reload."""
    key = (setup.templates_path, setup.default_language, setup.generation)
    renderer = _RENDERERS.get(key)
    if renderer is None:
        _RENDERERS.clear()
        renderer = _RENDERERS[key] = TemplateRenderer(
            setup.templates_path, setup.default_language, sources=setup.sources
        )
    return renderer
