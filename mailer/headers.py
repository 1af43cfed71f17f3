"""What a raw message says of itself in its header, read cheaply (no body parsed): for listings
of mail not processed yet."""

from dataclasses import dataclass
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import default


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderSummary:
    sender: str  # the From addr-spec, lower-cased; "" when absent or unreadable
    sender_name: str
    subject: str  # decoded (RFC 2047), one line


def summarise(raw: bytes) -> HeaderSummary:
    """From and Subject of raw bytes; never raises (a broken header gives empty values)."""
    try:
        header = BytesHeaderParser(policy=default).parsebytes(raw[: 256 * 1024])
        subject = " ".join(str(header.get("Subject", "")).split())
        addresses: tuple[Address, ...] = getattr(header.get("From"), "addresses", ())
    except Exception:  # a header the email package cannot read: show nothing rather than fail
        return HeaderSummary(sender="", sender_name="", subject="")
    first = addresses[0] if len(addresses) == 1 else None
    return HeaderSummary(
        sender=first.addr_spec.lower() if first else "",
        sender_name=first.display_name if first else "",
        subject=subject[:500],
    )
