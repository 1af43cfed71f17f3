"""A submission taken for a bot's: kept in the mail log as `ignored`, nothing answered."""

from datetime import datetime, timedelta

from sqlmodel import Session

from tickets.ingest import spool
from tickets.ingest.spool import Incoming, ReceiptStatus

WEB_MAILBOX = "web"


def spam_reason(*, honeypot: str, filled_in: timedelta, minimum: timedelta) -> str:
    """Why this submission is a bot's ("" when it looks like a person's). Pure."""
    if honeypot.strip():
        return "spam: the hidden field was filled in"
    if filled_in < minimum:
        return f"spam: sent {filled_in.total_seconds():.1f} s after the page (minimum {minimum.total_seconds():g} s)"
    return ""


def record_spam(
    session: Session,
    incoming: Incoming,
    *,
    reason: str,
    sender: tuple[str, str],
    subject: str,
    message_id: str,
    now: datetime,
) -> int:
    """Spool the bytes and mark the receipt ignored in one go (no worker ever claims it); its id."""
    (receipt,) = spool.spool(
        session, mailbox=WEB_MAILBOX, uidvalidity=0, messages=[incoming], now=now, holder="", lease=timedelta()
    )
    if receipt.fresh:
        spool.record_outcome(
            session,
            receipt.id,
            status=ReceiptStatus.IGNORED,
            reason=reason,
            message_id=message_id,
            sender=sender,
            subject=subject,
            now=now,
        )
    return receipt.id
