"""Header values from hostile mail: strict address lists, RFC 2047 words, charset fallback.

The stdlib address parsers of Python 3.11.7 lack `strict=True` (CVE-2019-16056,
CVE-2023-27043) and the header registry is quadratic or recursive on `;;;;` and `(((`
stuffing, so address lists are scanned here in one linear pass: a mailbox whose
comments, quotes or angle brackets do not balance resolves to no address at all.
"""

import base64
import binascii
import codecs
import re
from dataclasses import dataclass, field
from email.message import Message

from tickets.values import Address

MAX_ADDRESSES = 500
MAX_MAILBOX_CHARS = 2000
MAX_NAME_CHARS = 500
MAX_COMMENT_DEPTH = 32
NO_ADDRESS = Address(name="", email="")

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(")?|\\.?|[(),<>;:]|[^"\\(),<>;:]+', re.S)
_ATOM = r"[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_QUOTED = r'"(?:[^"\\\r\n]|\\[^\r\n])*"'
_LITERAL = r"\[[^\[\]\\\s]*\]"
_ADDR_SPEC = re.compile(rf"(?:{_DOT_ATOM}|{_QUOTED})@(?:{_DOT_ATOM}|{_LITERAL})")
_ROUTE = re.compile(r"^\s*@[^:<>]*:")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([QqBb])\?([^?\s]*)\?=")
_CHARSET_NAME = re.compile(r"[A-Za-z0-9._:+-]{1,40}")
_SINGLE_BYTE = re.compile(r"(ascii|latin|iso8859|cp125\d|cp437|mac)")


@dataclass(slots=True)
class _Mailbox:
    """What one comma-separated item of an address list held, token by token."""

    phrase: list[str] = field(default_factory=list)
    angle: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    angles: int = 0
    trailing: bool = False
    bad: bool = False

    def is_empty(self) -> bool:
        return not (self.angles or "".join(self.phrase).strip() or self.bad)


def clean_line(text: str, limit: int = 1000) -> str:
    """One line of display text: no control or bidi-override chars, collapsed spaces."""
    return _SPACES.sub(" ", _CONTROLS.sub(" ", text)).strip()[:limit]


def decode_raw(value: str) -> str:
    """A header value as read with surrogateescape: 8-bit bytes become UTF-8 or cp1252."""
    if value.isascii():
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"), "utf-8")


def text_codec(charset: str | None) -> str | None:
    """The Python text codec for a MIME charset name, or None when unknown or not text."""
    name = (charset or "").strip().strip('"').split("*", 1)[0]
    if not _CHARSET_NAME.fullmatch(name):
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252 with replacement chars."""
    codec = text_codec(charset)
    attempts = ["utf-8"] if codec is None else [codec, "utf-8"]
    if codec and _SINGLE_BYTE.match(codec) and not data.isascii():
        attempts = ["utf-8", codec]  # single-byte codecs never fail: valid UTF-8 wins
    for name in attempts:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace")


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "Qq":
        return binascii.a2b_qp(text.encode("ascii", "replace"), header=True)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "\ufffd".encode()


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded-words; adjacent words join; never raises."""
    out: list[str] = []
    pending: list[bytes] = []
    charset: str | None = None
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        word_charset = match.group(1).lower()
        if pending and (gap.strip() or word_charset != charset):
            out.append(decode_bytes(b"".join(pending), charset))
            pending = []
        if gap.strip() or not out and not pending:
            out.append(gap)
        pending.append(_word_bytes(match.group(2), match.group(3)))
        charset, pos = word_charset, match.end()
    if pending:
        out.append(decode_bytes(b"".join(pending), charset))
    out.append(value[pos:])
    return "".join(out)


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1] if token.endswith('"') else token[1:])


def _add_token(box: _Mailbox, token: str, angle_open: bool) -> None:
    if angle_open:
        box.angle.append(token)
    elif box.angles:
        box.trailing = box.trailing or bool(token.strip())
    else:
        box.phrase.append(token)


class _ListScanner:
    """A linear scan of an address list into mailboxes (groups flattened)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.boxes: list[_Mailbox] = []
        self.box = _Mailbox()
        self.depth = 0
        self.comment: list[str] = []
        self.angle_open = False

    def scan(self, value: str) -> list[_Mailbox]:
        for match in _TOKEN.finditer(value):
            self.feed(match.group(0), quoted_closed=match.group(1) is not None)
            if len(self.boxes) > self.limit:
                break
        self.flush()
        return self.boxes

    def feed(self, token: str, *, quoted_closed: bool) -> None:
        if token == "(" or token == ")" or self.depth:
            self.feed_comment(token)
        elif token.startswith('"'):
            self.box.bad = self.box.bad or not quoted_closed
            _add_token(self.box, token, self.angle_open)
        else:
            self.feed_plain(token)

    def feed_comment(self, token: str) -> None:
        if token == ")" and self.depth == 0:
            self.box.bad = True
            return
        self.depth += {"(": 1, ")": -1}.get(token, 0)
        self.box.bad = self.box.bad or self.depth > MAX_COMMENT_DEPTH
        if self.depth == 0:
            self.box.comments.append("".join(self.comment[1:]))
            self.comment = []
        else:
            self.comment.append(token)

    def feed_plain(self, token: str) -> None:
        if token == "<":
            self.box.bad = self.box.bad or self.angle_open or self.box.angles > 0
            self.angle_open = True
        elif token == ">":
            self.box.bad = self.box.bad or not self.angle_open
            self.angle_open, self.box.angles = False, self.box.angles + 1
        elif token in (",", ";") and not self.angle_open:
            self.flush()
        elif token == ":" and not self.angle_open:
            self.box.phrase = []  # a group name: its members follow
        else:
            _add_token(self.box, token, self.angle_open)

    def flush(self) -> None:
        self.box.bad = self.box.bad or self.depth > 0 or self.angle_open
        if not self.box.is_empty():
            self.boxes.append(self.box)
        self.box, self.depth, self.comment, self.angle_open = _Mailbox(), 0, [], False


def _display_name(parts: list[str]) -> str:
    text = "".join(_unquote(p) if p.startswith('"') else p for p in parts)
    return clean_line(decode_words(text), MAX_NAME_CHARS)


def _addr_spec(text: str) -> str:
    spec = _ROUTE.sub("", text).strip()
    return spec.lower() if _ADDR_SPEC.fullmatch(spec) else ""


def _to_address(box: _Mailbox) -> Address:
    size = sum(map(len, box.phrase)) + sum(map(len, box.angle))
    if box.bad or box.trailing or box.angles > 1 or size > MAX_MAILBOX_CHARS:
        return NO_ADDRESS
    if box.angles == 1:
        email = _addr_spec("".join(box.angle))
        return Address(name=_display_name(box.phrase), email=email) if email else NO_ADDRESS
    email = _addr_spec("".join(box.phrase))
    name = _display_name(box.comments[:1]) if email else ""
    return Address(name=name, email=email) if email else NO_ADDRESS


def parse_address_list(values: list[str], limit: int = MAX_ADDRESSES) -> tuple[list[Address], int]:
    """Mailboxes of one or more header values, and how many there were (capped past limit).

    A mailbox that cannot be read strictly is kept as NO_ADDRESS so counts stay honest.
    """
    boxes: list[_Mailbox] = []
    for value in values:
        boxes.extend(_ListScanner(limit - len(boxes)).scan(decode_raw(value)))
        if len(boxes) > limit:
            break
    return [_to_address(box) for box in boxes[:limit]], len(boxes)


def parse_addr_spec(value: str) -> str:
    """The single lower-case addr-spec of a value like Delivered-To, or ""."""
    found, count = parse_address_list([value], limit=1)
    return found[0].email if count == 1 else ""


def index_headers(msg: Message) -> dict[str, list[str]]:
    """Lower-case header name -> unfolded, decoded values in message order (top first)."""
    index: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        index.setdefault(name.lower(), []).append(decode_raw(_LINE_BREAK.sub("", str(value))))
    return index
