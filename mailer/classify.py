"""Is an inbound message from a person, or automatic (RFC 3834)? Pure and table-driven.

Precedence: loop > own > bounce > auto-reply > bulk. A bare `Return-Path: <>` is the
weakest bounce signal: many auto-responders send with a null envelope sender too, so a
message that says it is an auto-reply is one, and only otherwise is `<>` a bounce.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage, Message
from typing import Protocol

from mailer.addresses import decode_words, index_headers, parse_addr_spec, parse_address_list
from tickets.ingest.rules import is_own_address

Headers = dict[str, list[str]]
Verdict = tuple[str, str]
NOT_AUTO: Verdict = ("", "")
MAX_BOUNCE_RECIPIENTS = 100
MAX_QUOTED_IDS = 10
MAX_SCANNED_CHARS = 64 * 1024  # of each text part a bounce's quoted Message-IDs are looked for in

_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_AUTO_REPLY_FLAGS = ("x-autoreply", "x-autorespond", "x-auto-reply")
_TOKEN = re.compile(r"\s*([A-Za-z0-9_-]*)")
_MSGID_DOMAIN = re.compile(r"@([^<>@\s]+)>")
# Subjects of out-of-office replies (es/en), accents and case folded: "Automatic reply: <subject>",
# "Respuesta automática: ...", "Fuera de la oficina: ...", "Out of Office: ...", "[Autoreply] ...".
_AUTO_REPLY_PHRASES = (
    r"automatic reply|auto[- ]?reply|auto[- ]?response|out of (?:the )?office(?: auto[- ]?reply)?"
    r"|respuesta automatica(?: de fuera de la oficina)?|fuera de (?:la )?oficina"
)
_AUTO_REPLY_PREFIX = re.compile(rf"^(?:(?:{_AUTO_REPLY_PHRASES})\s*:|\[(?:{_AUTO_REPLY_PHRASES})\])")
# With X-Auto-Response-Suppress, Outlook's prefix in other languages too, after any "RE:"/"AW:".
_OUTLOOK_PREFIX = re.compile(
    rf"(?:^|:\s*)(?:{_AUTO_REPLY_PHRASES}|automatische antwort|reponse automatique|risposta automatica"
    r"|resposta automatica|automatisch antwoord|abwesenheitsnotiz)\s*:"
)

# A quoted `Message-ID:` header line (folded or not, maybe indented or `>`-quoted) of the mail a
# bounce reports on; `Original-Message-ID:` or `X-...-Message-ID:` never match.
_QUOTED_MSGID = re.compile(r"^[ \t>]*message-id:[ \t]*(?:\r?\n[ \t]+)?<([^<>\s]{1,996})>", re.I | re.M)
_QUOTED_HEADERS = re.compile(r"^[ \t>]*(?:return-path|received|message-id):", re.I | re.M)
_CODE = r"(?<![\d.]){}\.\d{{1,3}}\.\d{{1,3}}(?![\d.])"  # an enhanced status code (RFC 3463), not an IP
_TEXT_DELAYED = re.compile(
    r"warning message only|not yet been delivered|will (?:keep|continue) trying|will retry"
    r"|attempts will continue|delivery (?:has been |is )?delayed|" + _CODE.format(4),
    re.I,
)
_TEXT_FAILED = re.compile(
    r"permanent (?:fatal )?error|permanently|(?:was not|wasn't|were not) (?:able to )?deliver|unable to deliver"
    r"|could not be delivered|couldn't be delivered|undeliverable|delivery has failed|user unknown"
    r"|no such user|no mailbox|(?<![\d.])55[0-4](?![\d.])|" + _CODE.format(5),
    re.I,
)
_TEXT_RECIPIENT = re.compile(r"^<([^<>\s@]+@[^<>\s@]+)>:", re.M)


class ClassifyPolicy(Protocol):
    """The part of ParsePolicy that classification reads."""

    @property
    def max_received_headers(self) -> int: ...
    @property
    def own_addresses(self) -> frozenset[str]: ...
    @property
    def own_domain_message_ids(self) -> frozenset[str]: ...
    @property
    def loop_header(self) -> str: ...


@dataclass(frozen=True, slots=True)
class _Mail:
    """What the rules read: the message, its original headers, its From addr-specs."""

    msg: Message
    headers: Headers
    senders: frozenset[str]
    is_report: bool

    def first(self, name: str) -> str:
        values = self.headers.get(name)
        return values[0].strip() if values else ""


def _read(msg: Message) -> _Mail:
    headers = index_headers(msg)
    found, _ = parse_address_list(headers.get("from", []))
    senders = frozenset(a.email for a in found if a.email)
    return _Mail(msg, headers, senders, msg.get_content_type() == "multipart/report")


def _names_us(values: list[str], policy: ClassifyPolicy) -> bool:
    return any(own in value.lower() for value in values for own in policy.own_addresses)


def _loop(mail: _Mail, policy: ClassifyPolicy) -> str:
    received = len(mail.headers.get("received", []))
    if received > policy.max_received_headers:
        return f"{received} Received headers"
    if any(is_own_address(sender, policy.own_addresses) for sender in mail.senders):
        return _loop_header(mail, policy)  # our own mail come back: a real loop
    return ""


def _loop_header(mail: _Mail, policy: ClassifyPolicy) -> str:
    if _names_us(mail.headers.get("x-loop", []), policy):
        return "X-Loop names our address"
    if _names_us(mail.headers.get(policy.loop_header.lower(), []), policy):
        return f"carries our {policy.loop_header} header"
    return ""


def _own(mail: _Mail, policy: ClassifyPolicy) -> str:
    if any(is_own_address(sender, policy.own_addresses) for sender in mail.senders):
        return "From is one of our addresses"
    match = _MSGID_DOMAIN.search(mail.first("message-id"))
    if match and match.group(1).lower() in policy.own_domain_message_ids:
        return "Message-ID at our own domain"
    return ""


def _bounce(mail: _Mail, policy: ClassifyPolicy) -> str:
    if not mail.is_report:
        return ""
    if str(mail.msg.get_param("report-type", "")).lower() == "delivery-status":
        return "delivery status notification"
    if {email.split("@", 1)[0] for email in mail.senders} & _DAEMONS:
        return "report from a mailer daemon"
    return ""


def _auto_reply(mail: _Mail, policy: ClassifyPolicy) -> str:
    for value in mail.headers.get("auto-submitted", []):
        match = _TOKEN.match(value)
        token = match.group(1).lower() if match else ""
        if token and token != "no":
            return f"Auto-Submitted: {token[:40]}"
    for name in _AUTO_REPLY_FLAGS:
        if name in mail.headers:
            return f"{name} header"
    if mail.first("precedence").lower() == "auto_reply":
        return "Precedence: auto_reply"
    if mail.first("x-autogenerated").lower() == "reply":
        return "X-Autogenerated: Reply"
    return _exchange_auto_reply(mail)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", decode_words(text)).casefold()
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _exchange_auto_reply(mail: _Mail) -> str:
    """Exchange/Outlook out-of-office replies, which often lack Auto-Submitted.

    `X-Auto-Response-Suppress` alone is NOT a sign: Outlook sets it on ordinary mail (to lists,
    meeting requests, some clients on everything), so it counts only on a message whose subject
    carries an automatic reply's prefix (sisimai#491, osTicket#5320, glpi#2170).
    """
    if "x-ms-exchange-inbox-rules-loop" in mail.headers:
        return "X-MS-Exchange-Inbox-Rules-Loop header"
    topics = [_fold(mail.first(name)) for name in ("subject", "thread-topic")]
    for name, topic in zip(("Subject", "Thread-Topic"), topics, strict=True):
        if _AUTO_REPLY_PREFIX.match(topic):
            return f"{name} of an automatic reply"
    suppress = mail.first("x-auto-response-suppress").lower()
    if suppress and suppress != "none" and any(_OUTLOOK_PREFIX.search(t) for t in topics):
        return "X-Auto-Response-Suppress on an automatic reply"
    return ""


def _null_sender(mail: _Mail, policy: ClassifyPolicy) -> str:
    paths = mail.headers.get("return-path", [])
    return "Return-Path: <>" if paths and paths[0].strip() in ("<>", "") else ""


def _bulk(mail: _Mail, policy: ClassifyPolicy) -> str:
    precedence = mail.first("precedence").lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    for name in ("list-id", "list-unsubscribe"):
        if name in mail.headers:
            return f"{name} header"
    return ""


Rule = Callable[[_Mail, ClassifyPolicy], str]
RULES: tuple[tuple[str, Rule], ...] = (
    ("loop", _loop),
    ("own", _own),
    ("bounce", _bounce),
    ("auto-reply", _auto_reply),
    ("bounce", _null_sender),
    ("bulk", _bulk),
)


def _verdict(mail: _Mail, policy: ClassifyPolicy) -> Verdict:
    for kind, rule in RULES:
        reason = rule(mail, policy)
        if reason:
            return kind, reason
    return NOT_AUTO


def classify(msg: EmailMessage | Message, policy: ClassifyPolicy) -> Verdict:
    """("", "") for a person, else (kind, reason); reads the ORIGINAL headers."""
    return _verdict(_read(msg), policy)


def classify_and_hazard(msg: EmailMessage | Message, policy: ClassifyPolicy) -> tuple[Verdict, str]:
    """The verdict, and for a person's message why it must still not be acknowledged ("" if
    nothing stops it): our loop header on mail that is not from us is forged or copied, so the
    message is a ticket (a forger must not silence a user), but never answered automatically."""
    mail = _read(msg)
    verdict = _verdict(mail, policy)
    if verdict != NOT_AUTO:
        return verdict, ""
    forged = _loop_header(mail, policy)
    return verdict, f"{forged}, but From is not ours" if forged else ""


def _status_blocks(part: Message) -> list[dict[str, str]]:
    # The parser splits message/delivery-status into one header block per recipient.
    payload = part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    return [{name.lower(): str(value).strip() for name, value in b.items()} for b in blocks]


def _recipient(fields: dict[str, str]) -> str:
    value = fields.get("final-recipient") or fields.get("original-recipient") or ""
    return parse_addr_spec(value.split(";", 1)[-1])


def _delivery_status(msg: Message) -> Message | None:
    if msg.get_content_type() != "multipart/report" or not isinstance(msg.get_payload(), list):
        return None
    for part in msg.get_payload():
        if isinstance(part, Message) and part.get_content_type() == "message/delivery-status":
            return part
    return None


def bounce_details(msg: Message) -> tuple[str, tuple[str, ...]]:
    """The DSN's outcome ("failed" beats "delayed" beats the rest) and its recipients; a bounce
    without a delivery-status part is read from its text (`text_bounce_details`)."""
    part = _delivery_status(msg)
    if part is None:
        return text_bounce_details(_report_text(msg))
    actions = [
        (fields["action"].lower()[:20], _recipient(fields)) for fields in _status_blocks(part) if fields.get("action")
    ]
    found = {action for action, _ in actions}
    first = actions[0][0] if actions else ""
    status = next((a for a in ("failed", "delayed") if a in found), first)
    recipients = dict.fromkeys(r for a, r in actions if a == status and r)
    return status, tuple(recipients)[:MAX_BOUNCE_RECIPIENTS]


def _children(part: Message) -> list[Message]:
    try:
        payload = part.get_payload()
    except (ValueError, TypeError):
        return []
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _text_of(part: Message) -> str:
    """The start of a text part, decoded as well as it goes ("" when it cannot be read at all)."""
    try:
        data = part.get_payload(decode=True)
        charset = str(part.get_content_charset() or "utf-8")
    except (ValueError, TypeError, LookupError):  # mangled bytes the email package cannot give back
        return ""
    if not isinstance(data, bytes):
        return ""
    try:
        return data[: MAX_SCANNED_CHARS * 4].decode(charset, "replace")[:MAX_SCANNED_CHARS]
    except LookupError:  # an unknown charset
        return data[:MAX_SCANNED_CHARS].decode("latin-1")


def _report_text(msg: Message) -> str:
    """The bounce's own words: its first text/plain part, up to the copy of the returned headers."""
    part = next((p for p in msg.walk() if p.get_content_type() == "text/plain" and not p.is_multipart()), None)
    text = "" if part is None else _text_of(part)
    quoted = _QUOTED_HEADERS.search(text)
    return text if quoted is None else text[: quoted.start()]


def text_bounce_details(text: str) -> tuple[str, tuple[str, ...]]:
    """A bounce without a delivery-status part (an old MTA's plain text): ("failed" | "delayed" |
    "", recipients named as `<address>:` lines, qmail-style). A warning is never read as a failure."""
    if _TEXT_DELAYED.search(text):
        status = "delayed"
    elif _TEXT_FAILED.search(text):
        status = "failed"
    else:
        return "", ()
    found = dict.fromkeys(parse_addr_spec(r) for r in _TEXT_RECIPIENT.findall(text))
    return status, tuple(r for r in found if r)[:MAX_BOUNCE_RECIPIENTS]


def quoted_message_ids(msg: Message) -> tuple[str, ...]:
    """The Message-IDs a bounce quotes of the mail it reports on, in the order found: the header
    of its message/rfc822 part, `Message-ID:` lines of its text/rfc822-headers part or its text
    (an old MTA's copy of the message in the body). The bounce's own Message-ID is not among them."""
    found: list[str] = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = next(iter(_children(part)), None)
            value = "" if inner is None else str(inner.get("message-id", ""))
            found += _QUOTED_MSGID.findall("Message-ID: " + value.strip())
        elif ctype in ("text/rfc822-headers", "text/plain") and not part.is_multipart():
            found += _QUOTED_MSGID.findall(_text_of(part))
    return tuple(dict.fromkeys(f"<{m}>" for m in found))[:MAX_QUOTED_IDS]
