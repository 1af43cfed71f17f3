"""Attachments of ticket messages: bytes stored once by SHA-256 (the `blob` table, shared by every
worker on SQLite or PostgreSQL alike), one `attachment` row per message and file with its display
name, content type and size. Never commits; the caller's unit of work does, so an attachment is
stored in the transaction that stores its message.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from tickets.inserts import insert_ignore, insert_row
from tickets.models import AttachmentRow, Blob, Message
from tickets.values import Attachment

_A: Any = AttachmentRow.__table__.c  # type: ignore[attr-defined]
_B: Any = Blob.__table__.c  # type: ignore[attr-defined]
_M: Any = Message.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAttachment:
    """An attachment as listed: `filename` is display data only, never a path."""

    id: int
    message_id: int  # the ticket message it came with (message.id)
    filename: str
    content_type: str
    size: int
    sha256: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


def store_attachments(
    session: Session, message_id: int, attachments: Sequence[Attachment]
) -> tuple[StoredAttachment, ...]:
    """Link these files to a message; their bytes go in once per content (a repeat adds a row only)."""
    stored = []
    for attachment in attachments:
        data = attachment.data
        sha = hashlib.sha256(data).hexdigest()
        insert_ignore(session, Blob, {"sha256": sha, "size": len(data), "data": data})
        row: dict[str, Any] = {
            "message_id": message_id,
            "filename": attachment.filename[:255],
            "content_type": attachment.content_type[:255],
            "size": len(data),
            "sha256": sha,
        }
        new_id = insert_row(session, AttachmentRow, row)
        stored.append(
            StoredAttachment(
                id=new_id, message_id=message_id, filename=row["filename"], content_type=row["content_type"],
                size=len(data), sha256=sha,
            )
        )
    return tuple(stored)


def _stored(row: Any) -> StoredAttachment:
    return StoredAttachment(
        id=row.id,
        message_id=row.message_id,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
    )


def of_messages(session: Session, message_ids: Iterable[int]) -> dict[int, list[StoredAttachment]]:
    """The attachments of these messages, by message id, in the order they came."""
    ids = list(message_ids)
    found: dict[int, list[StoredAttachment]] = {}
    if not ids:
        return found
    query = select(AttachmentRow.__table__).where(_A.message_id.in_(ids)).order_by(_A.id)  # type: ignore[attr-defined]
    for row in session.connection().execute(query):
        found.setdefault(row.message_id, []).append(_stored(row))
    return found


def of_ticket(session: Session, ticket_id: int, attachment_id: int) -> StoredAttachment | None:
    """The attachment `attachment_id` if it belongs to a message of this ticket, else None."""
    query = (
        select(AttachmentRow.__table__)  # type: ignore[attr-defined]
        .join(Message.__table__, _M.id == _A.message_id)  # type: ignore[attr-defined]
        .where(_A.id == attachment_id, _M.ticket_id == ticket_id)
    )
    row = session.connection().execute(query).first()
    return None if row is None else _stored(row)


def content_of(session: Session, attachment: StoredAttachment) -> bytes | None:
    """The exact bytes of an attachment; None when they were removed (purge, erasure)."""
    row = session.connection().execute(select(_B.data, _B.size).where(_B.sha256 == attachment.sha256)).first()
    if row is None or (row.size == 0 and attachment.size != 0):
        return None
    return bytes(row.data)


def human_size(size: int) -> str:
    """`512 B`, `12 KB`, `3.4 MB`: sizes as a person reads them (powers of 1,024)."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
