"""The readable text and the sanitised HTML of a message body.

text/plain parts win; an HTML-only message is rendered to text here. A forwarded
`message/rfc822` part is an attachment; its text joins the body only when the outer
message has no readable text at all, under a "Forwarded message" marker.
"""

import html as htmllib
import re
from email.message import Message

import nh3

from mailer.addresses import clean_line, decode_bytes, decode_raw, decode_words

MAX_HTML_CHARS = 1_000_000
MAX_TEXT_CHARS = 1_000_000
MAX_SANITIZE_DEPTH = 500  # html5ever is quadratic in open-element depth
MAX_SANITIZE_AMPERSANDS = 50_000  # ... and in runs of bare "&"
FORWARD_MARKER = "---------- Forwarded message ----------"

# One linear pass, no backtracking across tokens; html.parser is quadratic on
# unclosed comments and "</" runs in Python 3.11 (minutes for 1 MB).
_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)|<[!?][^>]*>?|<(/?)([A-Za-z][A-Za-z0-9:-]*)([^>]*)>?|[^<]+"
    r"|<+(?![A-Za-z/!?])[^<]*|<[^<]*",
    re.S,
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)")
_HREF = re.compile(r"""href\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_RAW_TEXT = frozenset({"script", "style", "title", "template"})
_BLOCK = frozenset(
    {"p", "div", "table", "tr", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "section", "article", "header", "footer", "hr", "form"}
)
_NOT_NESTING = frozenset(
    {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source",
     "p", "li", "td", "th", "tr", "option", "dt", "dd"}
)
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")
_BODY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class _TextRenderer:
    """Visible text of HTML: link text kept (with its http(s) target), scripts dropped."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.lower = html.lower()
        self.out: list[str] = []
        self.links: list[tuple[str, int]] = []
        self.pre = 0

    def render(self) -> str:
        pos = 0
        while pos < len(self.html):
            match = _TOKEN.match(self.html, pos)
            assert match is not None  # the last alternatives match any character
            pos = match.end()
            if match.group(2):
                pos = self.tag(match.group(1) == "/", match.group(2).lower(), match.group(3), pos)
            elif not match.group(0).startswith(("<!", "<?")):
                text = htmllib.unescape(match.group(0))
                self.out.append(text if self.pre else _SPACES.sub(" ", text))
        return "".join(self.out)

    def tag(self, closing: bool, name: str, attrs: str, pos: int) -> int:
        if not closing and name in _RAW_TEXT:
            end = self.lower.find(f"</{name}", pos)
            return len(self.html) if end < 0 else end
        if name == "br":
            self.out.append("\n")
        elif name == "li" and not closing:
            self.out.append("\n- ")
        elif name in ("td", "th") and not closing:
            self.out.append(" ")
        elif name in _BLOCK:
            self.out.append("\n\n" if name == "p" and not closing else "\n")
        if name == "a":
            self.link(closing, attrs)
        elif name == "pre":
            self.pre = max(0, self.pre + (-1 if closing else 1))
        return pos

    def link(self, closing: bool, attrs: str) -> None:
        if not closing:
            found = _HREF.search(attrs)
            href = htmllib.unescape(found.group(1).strip("\"'")) if found else ""
            self.links.append((href, len(self.out)))
        elif self.links:
            href, start = self.links.pop()
            text = "".join(self.out[start:]).strip()
            if href.lower().startswith(("http://", "https://")) and href != text:
                self.out.append(f" ({href})")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body, in linear time (bounded input; never raises)."""
    text = _TextRenderer(html[:MAX_HTML_CHARS]).render()
    lines = (line.strip(" \t") for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _too_complex(html: str) -> bool:
    if html.count("&") > MAX_SANITIZE_AMPERSANDS:
        return True
    depth = deepest = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name not in _NOT_NESTING:
            depth = max(0, depth - 1) if match.group(1) else depth + 1
            deepest = max(deepest, depth)
    return deepest > MAX_SANITIZE_DEPTH


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Remote images would be fetched when an agent opens the mail: only cid: parts stay.
    if tag == "img" and attribute == "src" and not value.lower().startswith("cid:"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """An allow-listed copy: no script, event handlers, javascript: URLs or remote images.

    "" when the markup is too deeply nested to sanitise in bounded time.
    """
    html = html[:MAX_HTML_CHARS]
    if _too_complex(html):
        return ""
    return nh3.clean(
        html,
        url_schemes=set(_URL_SCHEMES),
        attribute_filter=_keep_attribute,
        clean_content_tags={"script", "style", "title", "template", "noscript"},
    )


def _is_body(part: Message, ctype: str) -> bool:
    if ctype not in ("text/plain", "text/html") or part.get_content_disposition() == "attachment":
        return False
    return not part.get_param("name") and not part.get_param("filename", header="content-disposition")


def split_leaves(root: Message) -> tuple[list[Message], list[Message]]:
    """Body parts and attachment parts of one message, in order; message/* is a leaf."""
    body: list[Message] = []
    attachments: list[Message] = []
    stack = [root]
    while stack:
        part = stack.pop()
        payload, ctype = part.get_payload(), part.get_content_type()
        if ctype.startswith("multipart/") and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        elif ctype.startswith("multipart/") or _is_body(part, ctype):
            body.append(part)  # a multipart without boundary is read as text
        else:
            attachments.append(part)
    return body, attachments


def part_text(part: Message) -> str:
    """The decoded text of a leaf: transfer encoding undone, charset with fallbacks."""
    data = part.get_payload(decode=True)
    text = decode_bytes(data if isinstance(data, bytes) else b"", part.get_content_charset())
    return clean_text(text)


def clean_text(text: str) -> str:
    """Body text: newlines normalised, NUL and other control characters removed, bounded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _BODY_CONTROLS.sub("", text)[:MAX_TEXT_CHARS]


def body_text(parts: list[Message]) -> tuple[str, str]:
    """(text, sanitised html) of body parts: plain text preferred, HTML rendered if alone."""
    is_html = [p.get_content_type() == "text/html" for p in parts]
    plain = [part_text(p) for p, h in zip(parts, is_html, strict=True) if not h]
    html = "\n".join(part_text(p) for p, h in zip(parts, is_html, strict=True) if h)
    text = "\n\n".join(t.strip("\n") for t in plain if t.strip())
    if not text and html:
        text = html_to_text(html)
    return text[:MAX_TEXT_CHARS].strip(), sanitize_html(html) if html else ""


def forwarded_text(attachments: list[Message]) -> str:
    """The first forwarded message, summarised and marked, for a message with no text."""
    for part in attachments:
        inner = part.get_payload()
        head = inner[0] if isinstance(inner, list) and inner else None
        if part.get_content_type() == "message/rfc822" and isinstance(head, Message):
            text, _ = body_text(split_leaves(head)[0])
            lines = [FORWARD_MARKER] + [
                f"{name}: {clean_line(decode_words(decode_raw(str(head.get(name, '')))), 300)}"
                for name in ("From", "Date", "Subject")
            ]
            return "\n".join(lines) + "\n\n" + text
    return ""
