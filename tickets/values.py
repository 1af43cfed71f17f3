"""Frozen values that cross package boundaries."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tickets.mail_context import CONTEXT_OF_KIND, MailContext


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """An attachment; `filename` is display data only, never a path."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    name: str
    email: str  # lower-cased addr-spec, "" when absent or unparseable


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingMessage:
    """A parsed inbound message, reduced to what the core needs."""

    message_id: str  # our own synthetic <sha256@local> when the header is missing
    message_id_was_missing: bool = False
    sender: Address  # the From: addr-spec only
    from_count: int = 1  # number of mailboxes in From: (identity is ambiguous if != 1)
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    subject: str = ""
    date: datetime | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    text: str = ""
    reply_text: str = ""  # text without quoted history and signature (what an agent wrote)
    html_only: bool = False  # the text was rendered from HTML: there was no text/plain part
    html: str = ""  # sanitised HTML, if the message had some
    attachments: tuple[Attachment, ...] = ()
    auto: str = ""  # "" | "auto-reply" | "bounce" | "bulk" | "loop" | "own"
    auto_reason: str = ""
    no_ack: str = ""  # from a person, yet never acknowledged: why (e.g. it carries our loop header)
    bounce_status: str = ""  # "failed" | "delayed" | ... for DSNs
    bounce_recipients: tuple[str, ...] = ()
    bounce_message_ids: tuple[str, ...] = ()  # Message-IDs a bounce quotes of the mail it reports on
    envelope_to: tuple[str, ...] = ()  # Delivered-To / X-Original-To: where bounces land
    content_language: str = ""  # Content-Language's first primary subtag; believed of the web form's mail only
    authentication_results: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    raw_sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptKey:
    """Where a raw message came from: unique per mailbox, UIDVALIDITY and UID."""

    mailbox: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingEmail:
    """An intent to send mail; the shell renders it from a template and queues it."""

    kind: str  # template name: "ack", ...
    ticket_id: int | None
    to: tuple[str, ...]
    idempotency_key: str
    language: str
    auto_submitted: str = ""  # "" | "auto-replied" | "auto-generated"
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    reply_to: str = ""  # "" = the helpdesk address; an agent's gets their signed reply address
    context: MailContext  # what the template of `kind` prints (tickets.mail_context)
    attachments: tuple[Attachment, ...] = ()  # files the message carries (composed as multipart/mixed)

    def __post_init__(self) -> None:
        expected = CONTEXT_OF_KIND.get(self.kind)
        if expected is not None and not isinstance(self.context, expected):
            raise TypeError(f"a {self.kind} mail needs a {expected.__name__}, not {type(self.context).__name__}")


class IngestAction(StrEnum):
    """What became of one inbound message."""

    TICKETED = "ticketed"  # a new ticket
    FOLLOWUP = "followup"  # the requester's (or a participant's) message on their ticket
    ATTACHED = "attached"  # an auto-reply kept on the ticket it answers
    AGENT = "agent"  # an agent's reply or commands, proven
    AGENT_REFUSED = "agent-refused"  # from an agent's address without proof: recorded, not acted on
    IGNORED = "ignored"  # a loop, our own mail, a bounce or list mail of no ticket
    DUPLICATE = "duplicate"  # the same message (Message-ID and bytes) under another key
    QUARANTINED = "quarantined"  # refused: no single sender, unparseable, too large, poison
    RECORDED = "recorded"  # a bounce recorded on the mail it reports
    ALREADY = "already"  # this very receipt was processed before
    ERROR = "error"  # processing failed: retried later
    WAITING = "waiting"  # held back by no fault of its own (an operator's template)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    """What ingesting one message decided."""

    action: IngestAction
    ticket_id: int | None = None
    reason: str = ""
    outgoing: tuple[OutgoingEmail, ...] = ()
