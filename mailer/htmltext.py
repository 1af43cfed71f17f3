"""The readable text and the sanitised HTML of a message body.

text/plain parts win; an HTML-only message is rendered to text here. A forwarded
`message/rfc822` part is an attachment; its text joins the body only when the outer
message has no readable text at all, under a "Forwarded message" marker.
"""

import re
from email.message import Message
from html.parser import HTMLParser

import nh3

from mailer.addresses import clean_line, decode_bytes, decode_raw, decode_words

MAX_HTML_CHARS = 1_000_000
MAX_TEXT_CHARS = 1_000_000
FORWARD_MARKER = "---------- Forwarded message ----------"

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "object"})
_BLOCK = frozenset(
    {"p", "div", "table", "tr", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
     "blockquote", "pre", "section", "article", "header", "footer", "hr", "form"}
)
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")
_BODY_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


class _TextExtractor(HTMLParser):
    """Collects the visible text: link text kept (with its http(s) target), scripts dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.pre = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCK:
            self.out.append("\n\n" if tag == "p" else "\n")
        self.pre += tag == "pre"
        if tag == "a":
            self.links.append((dict(attrs).get("href") or "", len(self.out)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")
        self.pre -= tag == "pre" and self.pre > 0
        if tag == "a" and self.links:
            self._close_link(*self.links.pop())

    def _close_link(self, href: str, start: int) -> None:
        text = "".join(self.out[start:]).strip()
        if href.lower().startswith(("http://", "https://")) and href != text:
            self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data if self.pre else _SPACES.sub(" ", data.replace("\n", " ")))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (bounded input; never raises on broken markup)."""
    parser = _TextExtractor()
    parser.feed(html[:MAX_HTML_CHARS])
    parser.close()
    lines = (line.strip(" \t") for line in "".join(parser.out).splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Remote images would be fetched when an agent opens the mail: only cid: parts stay.
    if tag == "img" and attribute == "src" and not value.lower().startswith("cid:"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """An allow-listed copy: no script, event handlers, javascript: URLs or remote images."""
    return nh3.clean(
        html[:MAX_HTML_CHARS],
        url_schemes=set(_URL_SCHEMES),
        attribute_filter=_keep_attribute,
    )


def _is_body(part: Message) -> bool:
    if part.get_content_maintype() != "text" or part.get_content_subtype() not in ("plain", "html"):
        return False
    return part.get_content_disposition() != "attachment" and not part.get_param("name") and not (
        part.get_param("filename", header="content-disposition")
    )


def split_leaves(root: Message) -> tuple[list[Message], list[Message]]:
    """Body parts and attachment parts of one message, in order; message/* is a leaf."""
    body: list[Message] = []
    attachments: list[Message] = []
    stack = [root]
    while stack:
        part = stack.pop()
        payload, maintype = part.get_payload(), part.get_content_maintype()
        if maintype == "multipart" and isinstance(payload, list):
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
        elif maintype == "multipart" or maintype != "message" and _is_body(part):
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
    plain = [part_text(p) for p in parts if p.get_content_subtype() != "html"]
    html = "\n".join(part_text(p) for p in parts if p.get_content_subtype() == "html")
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
