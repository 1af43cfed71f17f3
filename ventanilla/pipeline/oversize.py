"""Tell the sender of a message too large to take (F56), in the transaction that spools it.

Only its header was read. The notice is composed like any mail (`queue`); a header that does
not parse, or a notice template that fails, leaves the message quarantined and untold, never
the spool uncommitted: the notice is a courtesy, the receipt is the promise.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from mailer.errors import MailerError
from tickets.ingest import spool, too_large
from tickets.ingest.service import IngestPolicy
from tickets.ingest.spool import Incoming, ReceiptStatus, Spooled
from tickets.outbox.queries import Queue
from ventanilla.pipeline.offload import Parse

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notices:
    """What telling the senders takes: the header parser, the mail queue, the policy and the limit."""

    parse: Parse
    queue: Queue
    policy: IngestPolicy
    max_bytes: int  # limits.max_message_bytes, told to the sender of a larger message

    def tell(self, session: Session, spooled: Sequence[Spooled], messages: Sequence[Incoming], now: datetime) -> int:
        return tell_senders(
            session, spooled, messages, parse=self.parse, queue=self.queue, policy=self.policy,
            max_bytes=self.max_bytes, now=now,
        )


def tell_senders(
    session: Session,
    spooled: Sequence[Spooled],
    messages: Sequence[Incoming],
    *,
    parse: Parse,
    queue: Queue,
    policy: IngestPolicy,
    max_bytes: int,
    now: datetime,
) -> int:
    """Queue a notice for each message just refused for its size; how many were queued."""
    refused = {m.uid: m for m in messages if m.refused.startswith(too_large.REASON) and m.header}
    told = 0
    for receipt in spooled:
        incoming = refused.get(receipt.key.uid)
        if incoming is None or not receipt.fresh:
            continue
        try:
            msg = parse(incoming.header)
        except MailerError:
            continue
        notice, why = too_large.too_large_notice(
            session,
            msg,
            receipt_id=receipt.id,
            size=incoming.size,
            limit=max_bytes,
            own_addresses=policy.own_addresses | {policy.helpdesk_address},
            acks_per_hour=policy.acks_per_hour,
            language=policy.default_language,
            now=now,
        )
        if notice is not None:
            try:
                queue(session, notice, now)
                told += 1
            except MailerError as exc:  # a broken notice template: said, and the message still spooled
                notice, why = None, f"no notice: {exc}"
        outcome = "sender told" if notice is not None else why
        logger.info("too large, %s", outcome, extra={"action": "too-large", "mailbox": receipt.key.mailbox})
        spool.record_outcome(
            session,
            receipt.id,
            status=ReceiptStatus.QUARANTINED,
            reason=f"{incoming.refused}; {outcome}",
            message_id=msg.message_id,
            sender=(msg.sender.email, msg.sender.name),
            subject=msg.subject,
            now=now,
        )
    return told
