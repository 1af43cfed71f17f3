"""Moving messages out of the inbox folder: UID MOVE (atomic), or, on a server without MOVE,
COPY, then \\Deleted and UID EXPUNGE of only those UIDs.

Without MOVE a crash between the COPY and the EXPUNGE leaves the message in both folders, and
copying it again on the restart would leave two copies in the target. So the caller is told
right after the COPY (it records that on the message's receipt), and a message the caller knows
was copied is only deleted (`delete`). For the instant between the COPY and that record, a
leftover can be looked for in the target first (`copies_in`): same size, INTERNALDATE (kept by
COPY) and Message-ID.
"""

import logging
from datetime import datetime
from email.parser import BytesHeaderParser
from typing import Any

from imapclient import DELETED, IMAPClient

from mailer.source import Copied

logger = logging.getLogger(__name__)

_MESSAGE_ID_FIELD = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
Fingerprint = tuple[int, datetime, str]  # size, INTERNALDATE, Message-ID ("" when none)


def transfer(
    client: IMAPClient, uids: list[int], folder: str, *, inbox: str, on_copied: Copied | None, found: set[int]
) -> None:
    """UID MOVE, or COPY (skipping `found`, copied already) + tell `on_copied` + `delete`."""
    if client.has_capability("MOVE"):
        client.move(uids, folder)
        return
    todo = [uid for uid in uids if uid not in found]
    if todo:
        client.copy(todo, folder)
    if on_copied is not None:
        on_copied(uids, folder)
    delete(client, uids, inbox=inbox)


def delete(client: IMAPClient, uids: list[int], *, inbox: str) -> None:
    """\\Deleted and UID EXPUNGE of only these UIDs (a plain EXPUNGE without UIDPLUS)."""
    client.add_flags(uids, [DELETED])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        logger.warning("server lacks UIDPLUS: plain EXPUNGE in %s", inbox)
        client.expunge()


def fingerprints(client: IMAPClient, uids: list[int]) -> dict[int, Fingerprint]:
    """What identifies each of these messages (of the selected folder) in another folder."""
    response = client.fetch(uids, [b"RFC822.SIZE", b"INTERNALDATE", b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    found = {}
    for uid, data in response.items():
        if uid in uids and b"RFC822.SIZE" in data and b"INTERNALDATE" in data:
            found[uid] = (int(data[b"RFC822.SIZE"]), data[b"INTERNALDATE"], _message_id(data))
    return found


def copies_in(client: IMAPClient, folder: str, wanted: dict[int, Fingerprint]) -> set[int]:
    """Which of the fingerprinted messages have a copy in `folder`; leaves `folder` selected
    (read-only) when it exists: the caller selects its own folder again."""
    if not wanted or not client.folder_exists(folder):
        return set()
    client.select_folder(folder, readonly=True)
    return {uid for uid, fingerprint in wanted.items() if _has_copy(client, fingerprint)}


def _has_copy(client: IMAPClient, fingerprint: Fingerprint) -> bool:
    size, arrived, message_id = fingerprint
    criteria: list[Any] = ["LARGER", size - 1, "SMALLER", size + 1]
    if message_id:
        criteria += ["HEADER", "Message-ID", message_id]
    candidates = client.search(criteria)
    if not candidates:
        return False
    dates = client.fetch(candidates, [b"INTERNALDATE"])
    return any(data.get(b"INTERNALDATE") == arrived for data in dates.values())


def _message_id(data: dict[bytes, Any]) -> str:
    header = BytesHeaderParser().parsebytes(bytes(data.get(_MESSAGE_ID_FIELD) or b""))
    return " ".join(str(header.get("Message-ID", "")).split())
