"""Removing stored bytes: raw messages (their blob is emptied, the receipt keeps its hash, so a
re-delivery is still recognised) and attachments (rows deleted, files no longer referenced go)."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlmodel import Session

from tickets.models import AttachmentRow, Blob, Receipt

_A: Any = AttachmentRow.__table__.c  # type: ignore[attr-defined]
_B: Any = Blob.__table__.c  # type: ignore[attr-defined]
_R: Any = Receipt.__table__.c  # type: ignore[attr-defined]
CHUNK = 500


def chunks(values: Iterable[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    """The values without repeats, in order, in lists of at most `size` (an IN list every
    database takes)."""
    items = list(dict.fromkeys(values))
    for start in range(0, len(items), size):
        yield items[start : start + size]


def empty_raws(session: Session, receipt_ids: Iterable[int]) -> int:
    """Empty the raw bytes of these receipts; how many receipts had bytes that are gone now."""
    removed = 0
    for ids in chunks(receipt_ids):
        rows = session.connection().execute(
            select(_R.raw_sha256).where(_R.id.in_(ids), _R.size > 0, _R.raw_sha256 == _B.sha256, _B.size > 0)
        )
        shas = [sha for (sha,) in rows]
        if shas:
            session.connection().execute(update(Blob.__table__).where(_B.sha256.in_(shas)).values(data=b"", size=0))  # type: ignore[attr-defined]
            counted = select(_R.id).where(_R.id.in_(ids), _R.raw_sha256.in_(shas))
            removed += len(session.connection().execute(counted).all())
    return removed


def drop_attachments(session: Session, message_ids: Iterable[int]) -> tuple[int, int]:
    """Delete the attachments of these messages; (attachment rows, files no longer referenced)."""
    rows = files = 0
    for ids in chunks(message_ids):
        shas = list(session.connection().execute(select(_A.sha256).where(_A.message_id.in_(ids))).scalars())
        if not shas:
            continue
        rows += session.connection().execute(delete(AttachmentRow.__table__).where(_A.message_id.in_(ids))).rowcount  # type: ignore[attr-defined]
        files += drop_unreferenced(session, shas)
    return rows, files


def drop_unreferenced(session: Session, shas: Iterable[str]) -> int:
    """Delete the blobs of these hashes that no attachment and no receipt refers to any more."""
    dropped = 0
    for chunk in chunks(shas):
        unused = (
            delete(Blob.__table__)  # type: ignore[attr-defined]
            .where(_B.sha256.in_(chunk))
            .where(~exists().where(_A.sha256 == _B.sha256))
            .where(~exists().where(_R.raw_sha256 == _B.sha256))
        )
        dropped += session.connection().execute(unused).rowcount
    return dropped
