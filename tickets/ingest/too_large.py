"""A message too large to take (F56): its sender is told once, as an acknowledgement would be.

The message was never downloaded; only its header was read. The notice follows the rules of an
acknowledgement (RFC 3834: never to automatic mail, lists, our own or no-reply addresses) and
shares its per-sender hourly cap, so a stream of large mails cannot make us a mail cannon.
"""

from datetime import datetime

from sqlmodel import Session

from tickets.ingest import rules
from tickets.ingest.ack import recent_acks
from tickets.mail_context import TooLargeContext
from tickets.values import IncomingMessage, OutgoingEmail

KIND = "too_large"
REASON = "too large"  # how a receipt refused for its size is told apart (its reason starts so)


def too_large_notice(
    session: Session,
    msg: IncomingMessage,
    *,
    receipt_id: int,
    size: int,
    limit: int,
    own_addresses: frozenset[str],
    acks_per_hour: int,
    language: str,
    now: datetime,
) -> tuple[OutgoingEmail | None, str]:
    """(the notice, "") or (None, why none may be sent)."""
    recent = recent_acks(session, msg.sender.email, now, None, kinds=("ack", KIND))
    refusal = rules.ack_refusal(msg, own_addresses=own_addresses, acks_last_hour=recent, limit=acks_per_hour)
    if refusal:
        return None, refusal.replace("no ack", "no notice")
    context = TooLargeContext(subject=msg.subject, name=msg.sender.name, size=size, limit=limit)
    notice = OutgoingEmail(
        kind=KIND,
        ticket_id=None,
        to=(msg.sender.email,),
        idempotency_key=f"{KIND}:{receipt_id}",
        language=rules.detect_language(msg.subject, language),
        auto_submitted="auto-replied",
        in_reply_to=msg.message_id,
        references=(msg.message_id,) if msg.message_id else (),
        context=context,
    )
    return notice, ""
