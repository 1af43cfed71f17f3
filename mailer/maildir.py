"""A local Maildir as a mail source, with the same guarantees as IMAP.

Maildir has no UIDs: a message's UID is the first 60 bits of the SHA-256 of its unique
Maildir key, so it is stable across restarts. Processed mail moves to a sub-folder
(`.Processed`) after the commit, or gets the S flag when no processed folder is set; the flag is
only a courtesy to people reading the folder, never what tells new mail from old (the spool does).
"""

import hashlib
import mailbox
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from config.settings import InboxSettings
from mailer.source import HEADER_PEEK, Copied, FetchedMessage, FolderState, header_of

MAILDIR_UIDVALIDITY = 1


def uid_of(key: str) -> int:
    """A stable positive 60-bit integer for a Maildir key."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)


def deliver_to_maildir(path: str | Path, raw: bytes, delivered_at: datetime | None = None) -> str:
    """Put a message in `new/` as an MTA would (used by the demo and tests)."""
    box = mailbox.Maildir(str(path), factory=None, create=True)
    key = box.add(mailbox.MaildirMessage(raw))
    if delivered_at is not None:
        stamp = delivered_at.timestamp()
        os.utime(Path(path) / "new" / key, (stamp, stamp))
    return key


class MaildirSource:
    """Implements mailer.source.MailSource over a local Maildir."""

    def __init__(self, settings: InboxSettings) -> None:
        self.name = settings.name
        self._path = Path(settings.path)
        self._processed = settings.processed_folder
        self._quarantine = settings.quarantine_folder
        self._poll = settings.poll_seconds
        self._box: mailbox.Maildir | None = None
        self._keys: dict[int, str] = {}
        self._stop = threading.Event()

    def open(self) -> None:
        if self._box is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)  # Maildir(create=True) makes the last one only
            self._box = mailbox.Maildir(str(self._path), factory=None, create=True)

    def _inbox(self) -> mailbox.Maildir:
        self.open()
        assert self._box is not None
        return self._box

    def scan(self, *, after_uid: int) -> FolderState:
        """Every message in the inbox: Maildir has no UIDs above which new mail must be, and its
        flags are not ours (a message read in another client before we took it is still new)."""
        box = self._inbox()
        entries = [(self._delivered_at(key), key) for key in box.keys()]
        entries.sort()
        self._keys = {uid_of(key): key for _, key in entries}
        return FolderState(uidvalidity=MAILDIR_UIDVALIDITY, uids=tuple(uid_of(k) for _, k in entries))

    def _flags(self, key: str) -> str:
        """The message's Maildir flags, read off its file name ("...:2,FS"), not its contents."""
        try:
            name = self._file(key).name
        except KeyError:
            return ""
        _, info, flags = name.rpartition(self._inbox().colon + "2,")
        return flags if info else ""

    def _file(self, key: str) -> Path:
        return self._path / self._inbox()._lookup(key)  # type: ignore[attr-defined]

    def _delivered_at(self, key: str) -> float:
        try:
            return self._file(key).stat().st_mtime
        except (FileNotFoundError, KeyError):
            return 0.0

    def _known(self, uids: list[int]) -> Iterator[tuple[int, str]]:
        """(UID, Maildir key) of those of `uids` the last scan saw, in order; the others are skipped."""
        for uid in uids:
            key = self._keys.get(uid)
            if key is not None:
                yield uid, key

    def sizes(self, uids: list[int]) -> dict[int, int]:
        found = {}
        for uid, key in self._known(uids):
            try:
                found[uid] = self._file(key).stat().st_size
            except (FileNotFoundError, KeyError):
                continue  # taken away by someone else since the scan
        return found

    def fetch(self, uids: list[int], *, max_bytes: int) -> list[FetchedMessage]:
        result = []
        for uid, key in self._known(uids):
            try:
                path = self._file(key)
                size = path.stat().st_size
                raw = b"" if size > max_bytes else path.read_bytes()
                head = b""
                if size > max_bytes:  # never read whole: its header tells us whom to tell (F56)
                    with path.open("rb") as handle:
                        head = header_of(handle.read(HEADER_PEEK))
            except (FileNotFoundError, KeyError):
                continue  # taken away by someone else since the scan
            arrived = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            big = size > max_bytes
            result.append(FetchedMessage(uid=uid, raw=raw, arrived_at=arrived, size=size, oversize=big, header=head))
        return result

    def mark_processed(self, uids: list[int], *, on_copied: Copied | None = None, maybe_copied: bool = False) -> None:
        """A rename: atomic, so there is never a copy to tell `on_copied` about."""
        if self._processed:
            self._move(uids, self._processed)
        else:
            self._flag_seen(uids)

    def mark_quarantined(self, uids: list[int], *, on_copied: Copied | None = None, maybe_copied: bool = False) -> None:
        self._move(uids, self._quarantine or "Quarantine")

    def delete_copied(self, uids: list[int]) -> None:
        """Never needed here (a rename leaves no copy behind); removes the messages from the inbox."""
        box = self._inbox()
        for _, key in self._known(uids):
            box.discard(key)

    def _move(self, uids: list[int], folder: str) -> None:
        box = self._inbox()
        target = Path(self._path) / f".{folder}"
        mailbox.Maildir(str(target), factory=None, create=True)
        for _, key in self._known(uids):
            try:
                source = self._file(key)
                os.replace(source, target / "cur" / source.name)
            except (FileNotFoundError, KeyError):
                continue  # already moved: done
        box._refresh()  # type: ignore[attr-defined]

    def _flag_seen(self, uids: list[int]) -> None:
        box = self._inbox()
        for _, key in self._known(uids):
            if key in box and "S" not in self._flags(key):
                message = box.get_message(key)
                message.add_flag("S")
                message.set_subdir("cur")
                box[key] = message

    def wait(self, timeout: float) -> None:
        self._stop.wait(min(timeout, self._poll))
        self._stop.clear()

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._box = None
