"""Header values read cheaply from raw bytes (the header section only), before or without parsing:
the parser's values replace them once a message is processed."""

import re

HEAD_LIMIT = 256 * 1024
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_REFERENCES = re.compile(rb"^(?:in-reply-to|references):[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ANGLE_ID = re.compile(rb"<[^<>\s]{1,998}>")
_FROM = re.compile(rb"^from:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_ADDR_SPEC = re.compile(rb"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,255}")
MAX_REFERENCES = 20  # the last ones of References: the nearest ancestors


def _head_end(raw: bytes) -> int:
    end = _HEADER_END.search(raw, 0, HEAD_LIMIT)
    return end.start() if end else min(len(raw), HEAD_LIMIT)


def sniff_message_id(raw: bytes) -> str:
    """The Message-ID header of raw bytes, cheaply (the parser's value replaces it later)."""
    match = _MESSAGE_ID.search(raw, 0, _head_end(raw))
    if match is None:
        return ""
    return b" ".join(match.group(1).split()).decode("ascii", "replace")[:1000]


def sniff_references(raw: bytes) -> list[str]:
    """The Message-IDs a message's In-Reply-To and References name (the last MAX_REFERENCES)."""
    found: list[str] = []
    for header in _REFERENCES.finditer(raw, 0, _head_end(raw)):
        found.extend(m.decode("ascii", "replace") for m in _ANGLE_ID.findall(header.group(1)))
    return found[-MAX_REFERENCES:]


def sniff_from_addresses(raw: bytes) -> set[str]:
    """What looks like an address in the From header(s), lowercased: a guess at the sender, good
    for fetching ahead what the parsed sender's address will ask (a wrong guess costs a lookup)."""
    found: set[str] = set()
    for header in _FROM.finditer(raw, 0, _head_end(raw)):
        found.update(m.decode("ascii").lower() for m in _ADDR_SPEC.findall(header.group(1)))
    return found
