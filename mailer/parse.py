"""Raw RFC 5322 bytes -> IncomingMessage. Pure, bounded, never trusts the input.

Parsing uses `email.policy.default` with one change: header values stay plain text
(`_RawHeader`) instead of going through the header registry, whose parser is quadratic
on `;;;;` stuffing and recursive on `(((` in Python 3.11 (it hangs for minutes on a
100 KB Content-Type). Addresses and encoded-words are decoded by `mailer.addresses`.

Attachment names are display data only: path parts, control and bidi characters go.
A forwarded `message/rfc822` part is an attachment (`.eml`), see `mailer.htmltext`.
Nothing is ever decompressed (winmail.dat, zip, images stay opaque bytes).
"""

import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser
from email.policy import EmailPolicy
from typing import Any, cast

from config.settings import Settings
from mailer.addresses import (
    NO_ADDRESS,
    clean_line,
    decode_words,
    index_headers,
    parse_addr_spec,
    parse_address_list,
)
from mailer.classify import bounce_details, classify_and_hazard, quoted_message_ids
from mailer.errors import UnparseableMessageError
from mailer.htmltext import body_text, forwarded_text, split_leaves
from mailer.quotes import strip_reply
from tickets.values import Address, Attachment, IncomingMessage

FEED_CHUNK = 8 * 1024
MAX_MIME_HEADER_CHARS = 4096
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NON_HEADER_LINE = re.compile(rb"^(?![\x21-\x39\x3b-\x7e]+[ \t]*:|[ \t]|\r?$)", re.M)
_SEMICOLON_RUN = re.compile(r";[\s;]*;")
_MSGID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,996})>")
_BARE_MSGID = re.compile(r"[^<>\s\x00-\x1f\x7f]{1,500}@[^<>\s\x00-\x1f\x7f]{1,495}")
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,100}/[a-z0-9!#$&^_.+-]{1,150}")
_FILENAME_JUNK = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
MAX_IDS = 100
MAX_ENVELOPE = 20
MAX_FILENAME = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsePolicy:
    """Limits and our own identity for parsing inbound mail."""

    max_header_bytes: int = 100 * 1024
    max_parts: int = 500
    max_depth: int = 20
    max_line_bytes: int = 100_000
    max_received_headers: int = 50
    max_attachment_bytes: int = 25 * 1024 * 1024  # total attachments per message
    own_addresses: frozenset[str] = frozenset()  # lower-case addr-specs that are ours
    own_domain_message_ids: frozenset[str] = frozenset()  # a Message-ID @ these is ours
    loop_header: str = "X-Ventanilla-Loop"  # our loop header name; value = our address
    internal_header_prefix: str = "X-Ventanilla-"  # inbound headers with it are ignored


class _RawHeader(str):
    """A header value kept as unparsed text (see the module docstring)."""

    name: str
    defects: tuple[()] = ()

    def __new__(cls, name: str, value: str) -> "_RawHeader":
        if name.lower() in ("content-type", "content-disposition"):
            value = _SEMICOLON_RUN.sub(";", value[:MAX_MIME_HEADER_CHARS])
        header = super().__new__(cls, value)
        header.name = name
        return header

    def fold(self, *, policy: EmailPolicy) -> str:
        return f"{self.name}: {self}{policy.linesep}"


class _RawHeaderRegistry(HeaderRegistry):
    """Builds `_RawHeader`s; lookups (max_count when setting headers) stay standard."""

    def __call__(self, name: str, value: Any) -> Any:
        return _RawHeader(name, str(value))


EMAIL_POLICY = email.policy.default.clone(
    header_factory=_RawHeaderRegistry(), refold_source="none"
)


def _check_header_section(raw: bytes, policy: ParsePolicy) -> None:
    head = raw[: policy.max_header_bytes + 4]
    end = _HEADER_END.search(head)
    if end is None and len(raw) > policy.max_header_bytes:
        if not _NON_HEADER_LINE.search(head):
            raise UnparseableMessageError("header too large")
        return
    section = head[: end.start()] if end else head
    if end and end.start() > policy.max_header_bytes:
        raise UnparseableMessageError("header too large")
    if max(map(len, section.split(b"\n"))) > policy.max_line_bytes:
        raise UnparseableMessageError("header line too long")


def _feed(raw: bytes, policy: ParsePolicy) -> EmailMessage:
    # Fed in small chunks so a deep multipart is refused before the parser's
    # generator chain can hit the recursion limit.
    parser = BytesFeedParser(policy=EMAIL_POLICY)
    stack = getattr(parser, "_msgstack", [])
    for start in range(0, len(raw), FEED_CHUNK):
        parser.feed(raw[start : start + FEED_CHUNK])
        if len(stack) > policy.max_depth + 1:
            raise UnparseableMessageError("MIME nesting too deep")
    return cast(EmailMessage, parser.close())  # EMAIL_POLICY's message_factory


def _parse_tree(raw: bytes, policy: ParsePolicy) -> EmailMessage:
    try:
        return _feed(raw, policy)
    except RecursionError:
        raise UnparseableMessageError("MIME nesting too deep") from None


def _children(part: Message) -> list[Message]:
    payload = part.get_payload() if part.is_multipart() else None
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _check_tree(msg: Message, policy: ParsePolicy) -> list[Message]:
    """Every part, counted and depth-checked without recursion."""
    parts: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 1)]
    while stack:
        part, depth = stack.pop()
        parts.append(part)
        if len(parts) > policy.max_parts:
            raise UnparseableMessageError("too many MIME parts")
        if depth > policy.max_depth:
            raise UnparseableMessageError("MIME nesting too deep")
        stack.extend((child, depth + 1) for child in _children(part))
    return parts


def _defect_names(parts: list[Message]) -> list[str]:
    # Read after the bodies were decoded: decoding adds base64 defects to the parts.
    return [type(defect).__name__ for part in parts for defect in part.defects]


def _long_line_note(raw: bytes, policy: ParsePolicy) -> list[str]:
    if len(raw) <= policy.max_line_bytes:
        return []
    return ["line too long"] if max(map(len, raw.split(b"\n"))) > policy.max_line_bytes else []


def _ignore_internal_headers(msg: Message, policy: ParsePolicy) -> list[str]:
    prefix = policy.internal_header_prefix.lower()
    names = dict.fromkeys(n for n in msg.keys() if prefix and n.lower().startswith(prefix))
    for name in names:
        del msg[name]
    return [f"internal header ignored: {clean_line(name, 100)}" for name in names]


def _classification(msg: Message, policy: ParsePolicy) -> dict[str, Any]:
    (auto, reason), no_ack = classify_and_hazard(msg, policy)
    status, recipients = bounce_details(msg) if auto == "bounce" else ("", ())
    quoted = quoted_message_ids(msg) if auto == "bounce" else ()
    return {"auto": auto, "auto_reason": reason, "no_ack": no_ack, "bounce_status": status,
            "bounce_recipients": recipients, "bounce_message_ids": quoted}


def _message_ids(value: str) -> list[str]:
    if "=?" in value:  # Python's email package encodes a long msg-id it cannot fold; undo that
        value = decode_words(value)
    return [f"<{m}>" for m in _MSGID.findall(value)]


def _bounded_ids(values: list[str]) -> tuple[str, ...]:
    ids = list(dict.fromkeys(_message_ids(" ".join(values[:1]))))
    # Keep the thread root and the nearest ancestors, which threading relies on.
    return tuple(ids if len(ids) <= MAX_IDS else ids[:1] + ids[-(MAX_IDS - 1) :])


def _message_id(values: list[str], sha: str) -> tuple[str, bool]:
    value = values[0] if values else ""
    found = _MSGID.search(value) or _BARE_MSGID.search(value)
    if found is None:
        return f"<{sha}@local>", True
    return f"<{found.group(1) if found.lastindex else found.group(0)}>", False


def _date(values: list[str]) -> datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(values[0][:200]) if values else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is not None and parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)  # "-0000": UTC with no claim about local time
    return parsed


def _sender(values: list[str]) -> tuple[Address, int]:
    found, count = parse_address_list(values)
    return (found[0] if count == 1 else NO_ADDRESS), count


def _addresses(values: list[str]) -> tuple[Address, ...]:
    return tuple(a for a in parse_address_list(values)[0] if a.email)


def _envelope(headers: dict[str, list[str]]) -> tuple[str, ...]:
    values = headers.get("delivered-to", []) + headers.get("x-original-to", [])
    found = (parse_addr_spec(v) for v in values[:MAX_ENVELOPE])
    return tuple(dict.fromkeys(a for a in found if a))


def header_fields(headers: dict[str, list[str]], sha: str) -> dict[str, Any]:
    """The IncomingMessage fields that come from the top-level header section."""
    sender, from_count = _sender(headers.get("from", []))
    message_id, missing = _message_id(headers.get("message-id", []), sha)
    subject = headers.get("subject", [""])[0]
    return {
        "message_id": message_id, "message_id_was_missing": missing,
        "sender": sender, "from_count": from_count,
        "to": _addresses(headers.get("to", [])), "cc": _addresses(headers.get("cc", [])),
        "subject": clean_line(decode_words(subject), 1000),
        "date": _date(headers.get("date", [])),
        "in_reply_to": _bounded_ids(headers.get("in-reply-to", [])),
        "references": _bounded_ids(headers.get("references", [])),
        "envelope_to": _envelope(headers),
        "content_language": _content_language(headers.get("content-language", [])),
        "authentication_results": tuple(
            clean_line(v, 4000) for v in headers.get("authentication-results", [])[:MAX_ENVELOPE]
        ),
    }


def _content_language(values: list[str]) -> str:
    """The primary subtag of the first language tag (`en-GB, es` -> "en"), "" when none (RFC 3282)."""
    first = values[0].split(",")[0].strip().split("-")[0].lower() if values else ""
    return first if first.isascii() and first.isalpha() and len(first) <= 8 else ""


def safe_filename(name: str) -> str:
    """A display-only file name: no directories, control or bidi chars, at most 255 chars."""
    name = _FILENAME_JUNK.sub("", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = name.strip().strip(".").strip()
    if len(name) > MAX_FILENAME:
        _, dot, ext = name.rpartition(".")
        keep = dot + ext if dot and len(ext) <= 20 else ""
        name = name[: MAX_FILENAME - len(keep)] + keep
    return name or "attachment"


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except (ValueError, LookupError, IndexError, TypeError):
        name = ""
    if not name and part.get_content_type() == "message/rfc822":
        name = "message.eml"
    return safe_filename(decode_words(name))


def _part_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    if not isinstance(payload, list):
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    inner = [p for p in payload if isinstance(p, Message)]
    try:
        return b"".join(p.as_bytes(policy=EMAIL_POLICY) for p in inner)
    except (ValueError, TypeError, LookupError, UnicodeError):
        return b""


def _min_decoded_size(part: Message) -> int:
    """A lower bound of the decoded size, so an oversized part is dropped undecoded."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return 0
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    return {"base64": len(payload) * 7 // 10, "quoted-printable": len(payload) // 3}.get(cte, 0)


def _attachments(parts: list[Message], budget: int) -> tuple[tuple[Attachment, ...], list[str]]:
    kept: list[Attachment] = []
    notes: list[str] = []
    for part in parts:
        data = None if _min_decoded_size(part) > budget else _part_bytes(part)
        if data is None or len(data) > budget:
            notes.append("attachment dropped: too large")
            continue
        budget -= len(data)
        ctype = part.get_content_type()
        ctype = ctype if _CONTENT_TYPE.fullmatch(ctype) else "application/octet-stream"
        kept.append(Attachment(filename=_filename(part), content_type=ctype, data=data))
    return tuple(kept), notes


def _body_fields(msg: Message, policy: ParsePolicy) -> tuple[dict[str, Any], list[str]]:
    body_parts, attachment_parts = split_leaves(msg)
    text, html = body_text(body_parts)
    attachments, notes = _attachments(attachment_parts, policy.max_attachment_bytes)
    text = text or forwarded_text(attachment_parts)
    html_only = bool(body_parts) and all(p.get_content_type() == "text/html" for p in body_parts)
    fields = {"text": text, "reply_text": strip_reply(text), "html_only": html_only, "html": html}
    return {**fields, "attachments": attachments}, notes


def parse_message(raw: bytes, policy: ParsePolicy) -> IncomingMessage:
    """Parse one raw message within the policy's limits; UnparseableMessageError if not."""
    if not raw.strip():
        raise UnparseableMessageError("empty message")
    _check_header_section(raw, policy)
    msg = _parse_tree(raw, policy)
    parts = _check_tree(msg, policy)
    verdict = _classification(msg, policy)
    notes = _ignore_internal_headers(msg, policy) + _long_line_note(raw, policy)
    try:
        body, body_notes = _body_fields(msg, policy)
    except (ValueError, LookupError, UnicodeError, TypeError) as exc:  # the email package, on a broken part
        raise UnparseableMessageError(f"body unreadable: {type(exc).__name__}: {exc}"[:300]) from exc
    defects = _defect_names(parts) + notes + body_notes
    sha = hashlib.sha256(raw).hexdigest()
    return IncomingMessage(
        **header_fields(index_headers(msg), sha), **verdict, **body,
        defects=tuple(dict.fromkeys(defects))[:100], raw_sha256=sha,
    )


def policy_from_settings(
    settings: Settings, *, message_id_domains: frozenset[str] = frozenset()
) -> ParsePolicy:
    """The ParsePolicy for a config.Settings tree (our address plus its aliases). Pass the domain
    our composer uses for Message-IDs: not derived from the support address, which agents' own
    mail clients also use."""
    helpdesk, limits = settings.helpdesk, settings.limits
    return ParsePolicy(
        max_header_bytes=limits.max_header_bytes,
        max_parts=limits.max_parts,
        max_depth=limits.max_depth,
        max_line_bytes=limits.max_line_bytes,
        max_received_headers=limits.max_received_headers,
        max_attachment_bytes=limits.max_message_bytes,
        own_addresses=frozenset([helpdesk.address, *helpdesk.own_addresses]) - {""},
        own_domain_message_ids=frozenset(d.lower() for d in message_id_domains),
    )

