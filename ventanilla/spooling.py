"""Raw bytes into the spool, as `ventanilla deliver` and the web form hand them over."""

import hashlib
from datetime import datetime

from mailer.maildir import uid_of
from tickets.ingest.spool import Incoming, Spooled
from ventanilla.pipeline.process import Ingestor


def incoming_of(raw: bytes, arrived_at: datetime) -> Incoming:
    """The message keyed by its bytes' hash: the same bytes handed over twice are one receipt."""
    return Incoming(uid=uid_of(hashlib.sha256(raw).hexdigest()), raw=raw, arrived_at=arrived_at, size=len(raw))


def spool_raw(ingestor: Ingestor, mailbox: str, raw: bytes, arrived_at: datetime) -> Spooled:
    """Commit the message's bytes and receipt (claimed by this process, which processes it next)."""
    (receipt,) = ingestor.receive(mailbox, 0, [incoming_of(raw, arrived_at)])
    return receipt
