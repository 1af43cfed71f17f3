"""The port every inbound mail source implements (IMAP, Maildir, an in-memory fake)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# Told between a COPY and the EXPUNGE after it (a server without MOVE): (uids, folder) are
# in `folder` now. The intake records it on the receipts, so a restart never copies them again.
Copied = Callable[[list[int], str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderState:
    """What selecting the inbox folder told us."""

    uidvalidity: int
    uids: tuple[int, ...]  # every message still waiting in the folder, oldest first


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedMessage:
    uid: int
    raw: bytes  # empty when `oversize` is set: we did not download it
    arrived_at: datetime  # INTERNALDATE / delivery time, aware UTC
    size: int
    oversize: bool = False
    header: bytes = b""  # of an oversize message: its header alone (at most HEADER_PEEK bytes)


HEADER_PEEK = 64 * 1024  # how much of an oversize message is read: enough for its header


def header_of(start: bytes) -> bytes:
    """The header part of a message's first bytes (up to the blank line, or all of them)."""
    for end in (b"\r\n\r\n", b"\n\n"):
        at = start.find(end)
        if at >= 0:
            return start[: at + len(end)]
    return start


class MailSource(Protocol):
    """Blocking operations on one mailbox folder; the poller runs them in a thread."""

    name: str

    def open(self) -> None:
        """Connect and log in (no-op when already connected)."""

    def scan(self, *, after_uid: int) -> FolderState:
        """Select the folder; list waiting UIDs: those above `after_uid` plus leftovers."""

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """The size in bytes of each of these messages still there (nothing downloaded)."""

    def fetch(self, uids: list[int], *, max_bytes: int) -> list[FetchedMessage]:
        """Download these messages without marking them seen; skip ones that vanished."""

    def mark_processed(self, uids: list[int], *, on_copied: Copied | None = None, maybe_copied: bool = False) -> None:
        """After commit: move to the processed folder, or flag \\Seen. A move that is a copy and
        a delete tells `on_copied` in between; `maybe_copied`: some may have been copied by a
        process that died: copy only those not in the folder yet."""

    def mark_quarantined(
        self, uids: list[int], *, on_copied: Copied | None = None, maybe_copied: bool = False
    ) -> None:
        """After commit: move to the quarantine folder; as mark_processed."""

    def delete_copied(self, uids: list[int]) -> None:
        """These were copied to their folder already (their receipt says so): only delete them here."""

    def wait(self, timeout: float) -> None:
        """Block until new mail may have arrived or `timeout` seconds passed."""

    def close(self) -> None:
        """Log out; safe to call twice."""
