"""The IMAP mail source: one folder of one mailbox, read by UID, never trusting \\Seen.

Blocking (imapclient); the poller runs it in a thread. Only `interrupt()` may be called
from another thread.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from imapclient import FLAGGED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from config.settings import InboxSettings
from mailer.errors import SourceUnavailableError
from mailer.imap_connect import SecretProvider, connect, shutdown
from mailer.imap_transfer import copies_in, delete, fingerprints, transfer
from mailer.source import HEADER_PEEK, Copied, FetchedMessage, FolderState, header_of

logger = logging.getLogger(__name__)

IDLE_SLICE_SECONDS = 1.0
_MARK_ATTEMPTS = 3  # a NO can be mended twice: others' expunges, then a missing folder
# OSError covers socket errors, timeouts and TLS errors; IMAPClientError is imaplib's
# IMAP4.error, parent of IMAP4.abort ("socket error: EOF") and of NO/BAD replies.
_FAILURES = (OSError, EOFError, IMAPClientError)


class ImapSource:
    """`mailer.source.MailSource` over IMAP (imapclient), built from `InboxSettings`.

    `password_provider`, when given, returns the secret instead of the settings: the
    password for auth "password", a fresh access token for auth "xoauth2".
    """

    def __init__(
        self, settings: InboxSettings, *, password_provider: SecretProvider | None = None
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._provider = password_provider
        self._client: IMAPClient | None = None
        self._selected = False
        self._uidvalidity: int | None = None
        self._uidnext: int | None = None
        self._interrupted = threading.Event()

    # -- connection ------------------------------------------------------------------

    def open(self) -> None:
        """Connect and log in (no-op when already connected)."""
        if self._client is not None:
            return
        with self._guard("connect"):
            self._client = connect(self._settings, self._provider)
            self._selected = False

    def close(self) -> None:
        """Log out; errors ignored; safe to call twice."""
        client, self._client = self._client, None
        self._selected = False
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # the connection may already be gone; nothing to save
            shutdown(client)

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Connection trouble becomes SourceUnavailableError; the next open() starts afresh."""
        try:
            yield
        except _FAILURES as exc:
            self._drop()
            raise SourceUnavailableError(f"{self.name}: {action} failed: {exc}") from exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._selected = False
        if client is not None:
            shutdown(client)

    def _connected(self) -> IMAPClient:
        self.open()
        assert self._client is not None
        return self._client

    # -- reading ---------------------------------------------------------------------

    def scan(self, *, after_uid: int) -> FolderState:
        """Select the folder; list waiting UIDs: those above `after_uid` plus leftovers."""
        with self._guard("scan"):
            client = self._connected()
            info = client.select_folder(self._settings.folder, readonly=False)
            self._uidvalidity = int(info[b"UIDVALIDITY"])
            self._uidnext = int(info.get(b"UIDNEXT", 0)) or None
            self._selected = True
            if self._settings.processed_folder:
                uids = set(client.search(["ALL"]))  # all still here: new or left over
            else:
                uids = self._uids_after(client, after_uid) | self._unseen_upto(client, after_uid)
        return FolderState(uidvalidity=self._uidvalidity, uids=tuple(sorted(uids)))

    @staticmethod
    def _uids_after(client: IMAPClient, after_uid: int) -> set[int]:
        # "N:*" always matches the highest UID, even when it is below N: filter.
        found = client.search(["UID", f"{after_uid + 1}:*"])
        return {uid for uid in found if uid > after_uid}

    @staticmethod
    def _unseen_upto(client: IMAPClient, after_uid: int) -> set[int]:
        if after_uid < 1:
            return set()
        return set(client.search(["UNSEEN", "UID", f"1:{after_uid}"]))

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each of these messages still in the folder."""
        if not uids:
            return {}
        with self._guard("size"):
            response = self._selected_client().fetch(uids, [b"RFC822.SIZE"])
        wanted = set(uids)
        return {uid: int(d[b"RFC822.SIZE"]) for uid, d in response.items() if uid in wanted and b"RFC822.SIZE" in d}

    def fetch(self, uids: list[int], *, max_bytes: int) -> list[FetchedMessage]:
        """Download these messages without marking them seen; skip ones that vanished."""
        if not uids:
            return []
        with self._guard("fetch"):
            client = self._selected_client()
            meta = _metadata(client.fetch(uids, [b"RFC822.SIZE", b"INTERNALDATE"]), set(uids))
            small = sorted(uid for uid, (size, _) in meta.items() if size <= max_bytes)
            bodies = client.fetch(small, [b"BODY.PEEK[]"]) if small else {}
            big = sorted(set(meta) - set(small))  # their header only: who to tell (F56)
            heads = client.fetch(big, [b"BODY.PEEK[HEADER]<0.%d>" % HEADER_PEEK]) if big else {}
        found = []
        for uid in sorted(meta):
            size, arrived = meta[uid]
            raw = bodies.get(uid, {}).get(b"BODY[]")
            if size > max_bytes or (raw is not None and len(raw) > max_bytes):
                head = header_of(bytes(heads.get(uid, {}).get(b"BODY[HEADER]<0>") or (raw or b"")[:HEADER_PEEK]))
                big_one = FetchedMessage(uid=uid, raw=b"", arrived_at=arrived, size=size, oversize=True, header=head)
                found.append(big_one)
            elif raw is not None:  # None: expunged between the two FETCHes
                found.append(FetchedMessage(uid=uid, raw=bytes(raw), arrived_at=arrived, size=size))
        return found

    def _selected_client(self) -> IMAPClient:
        """The client with our folder selected, refusing UIDs from another UIDVALIDITY."""
        client = self._connected()
        if not self._selected:
            info = client.select_folder(self._settings.folder, readonly=False)
            if self._uidvalidity is not None and int(info[b"UIDVALIDITY"]) != self._uidvalidity:
                raise IMAPClientAbortError("UIDVALIDITY changed since the last scan; scan again")
            self._selected = True
        return client

    # -- marking ---------------------------------------------------------------------

    def mark_processed(self, uids: list[int], *, on_copied: Copied | None = None, maybe_copied: bool = False) -> None:
        """After commit: move to the processed folder, or flag \\Seen.

        Without MOVE, `on_copied(uids, folder)` is told between the COPY and the EXPUNGE;
        `maybe_copied`: a process that died may have copied some already: look in the folder
        first and copy only those not there."""
        self._dispose(uids, self._settings.processed_folder, [SEEN], on_copied, maybe_copied)

    def mark_quarantined(
        self, uids: list[int], *, on_copied: Copied | None = None, maybe_copied: bool = False
    ) -> None:
        """After commit: move to the quarantine folder (or flag \\Seen \\Flagged); as mark_processed."""
        self._dispose(uids, self._settings.quarantine_folder, [SEEN, FLAGGED], on_copied, maybe_copied)

    def delete_copied(self, uids: list[int]) -> None:
        """These were copied to their folder already (their receipt says so): only delete them here."""
        if uids:
            with self._guard(f"delete {len(uids)} copied message(s)"):
                delete(self._selected_client(), uids, inbox=self._settings.folder)

    def _dispose(
        self, uids: list[int], folder: str, flags: list[bytes], on_copied: Copied | None, maybe_copied: bool
    ) -> None:
        """Move `uids` to `folder`, or flag them when no folder is configured."""
        if not uids:
            return
        with self._guard(f"mark {len(uids)} message(s)"):
            client = self._selected_client()
            for attempt in range(_MARK_ATTEMPTS):
                try:  # UIDs already gone are no error: UID commands skip them
                    if not folder:
                        client.add_flags(uids, flags)
                    else:  # a retry may follow a COPY that worked: look first then
                        found = self._copied_already(uids, folder) if maybe_copied or attempt else set()
                        inbox = self._settings.folder
                        transfer(self._selected_client(), uids, folder, inbox=inbox, on_copied=on_copied, found=found)
                    return
                except IMAPClientError as exc:
                    if isinstance(exc, IMAPClientAbortError) or attempt + 1 == _MARK_ATTEMPTS:
                        raise
                    self._recover(client, folder, exc)

    def _copied_already(self, uids: list[int], folder: str) -> set[int]:
        """Those of `uids` that have a copy in `folder` (no MOVE only: a MOVE leaves none behind)."""
        client = self._selected_client()
        if client.has_capability("MOVE"):
            return set()
        wanted = fingerprints(client, uids)
        self._selected = False  # copies_in selects `folder`: ours is selected again (and checked) next
        found = copies_in(client, folder, wanted)
        if found:
            logger.info(
                "%s of %s message(s) were in %s already: not copied again",
                len(found),
                len(uids),
                folder,
                extra={"action": "copied-before", "mailbox": self.name},
            )
        return found

    def _recover(self, client: IMAPClient, folder: str, exc: IMAPClientError) -> None:
        """Mend what a NO reply means, once; anything else is re-raised."""
        if "EXPUNGEISSUED" in str(exc):  # another client expunged some of them: sync first
            client.noop()
        elif folder and _folder_missing(client, folder, exc):  # first use, or deleted
            logger.info("creating IMAP folder %s", folder, extra={"action": "create_folder"})
            client.create_folder(folder)
        else:
            raise exc

    # -- waiting ---------------------------------------------------------------------

    def interrupt(self) -> None:
        """Make a blocked (or the next) wait() return promptly; safe from any thread."""
        self._interrupted.set()

    def wait(self, timeout: float) -> None:
        """Block until new mail may have arrived, `timeout` passed, or interrupt()."""
        try:
            if self._interrupted.is_set():
                return
            if not self._settings.idle:
                self._interrupted.wait(timeout)
                return
            with self._guard("idle"):
                client = self._connected()
                if not client.has_capability("IDLE"):
                    self._interrupted.wait(timeout)
                elif not self._changed_since_scan(client):
                    self._idle(client, time.monotonic() + timeout)
        finally:
            self._interrupted.clear()

    def _changed_since_scan(self, client: IMAPClient) -> bool:
        """Mail that came during our last commands was announced then, not in IDLE."""
        info = client.select_folder(self._settings.folder, readonly=False)
        same_folder = int(info[b"UIDVALIDITY"]) == self._uidvalidity
        self._selected = same_folder  # else fetch() must refuse the old UIDs
        uidnext = int(info.get(b"UIDNEXT", 0)) or None
        return uidnext != self._uidnext or not same_folder

    def _idle(self, client: IMAPClient, deadline: float) -> None:
        """IDLE until new mail or the deadline, re-issued every idle_seconds, and at least every
        timeout_seconds: the server must answer DONE within the socket timeout, so a connection
        that went silent (a NAT or firewall that forgot it: no FIN, no RST) is noticed in at
        most twice the timeout, not at the next deadline."""
        renew = min(self._settings.idle_seconds, self._settings.timeout_seconds)
        while not self._interrupted.is_set() and time.monotonic() < deadline:
            end = min(deadline, time.monotonic() + renew)
            if self._idle_once(client, end):
                return

    def _idle_once(self, client: IMAPClient, end: float) -> bool:
        """One IDLE until `end`; with `check_seconds`, left that often for a NOOP (a server may
        announce new mail in IDLE late: Dovecot waits 0.5 s; it reports it to a NOOP at once)."""
        check = self._settings.check_seconds
        client.idle()
        idling = True
        try:
            while not self._interrupted.is_set() and (left := end - time.monotonic()) > 0:
                step = min(IDLE_SLICE_SECONDS, left, check or IDLE_SLICE_SECONDS)
                started = time.monotonic()
                responses = client.idle_check(timeout=step)
                if _announces_mail(responses):
                    return True
                if not responses and time.monotonic() - started < step / 2:
                    return False  # idle_check hides EOF: idle_done() below will raise
                if check and not responses:
                    idling = False
                    client.idle_done()
                    if _announces_mail(client.noop()[1]):
                        return True
                    client.idle()
                    idling = True
            return False
        finally:
            if idling:
                client.idle_done()


def _metadata(
    response: dict[int, dict[bytes, Any]], wanted: set[int]
) -> dict[int, tuple[int, datetime]]:
    """uid -> (size, arrival in UTC) for the UIDs we asked for and the server still has."""
    meta = {}
    for uid, data in response.items():
        if uid in wanted and b"RFC822.SIZE" in data and b"INTERNALDATE" in data:
            meta[uid] = (int(data[b"RFC822.SIZE"]), _as_utc(data[b"INTERNALDATE"]))
    return meta


def _as_utc(value: datetime) -> datetime:
    # Aware with the server's offset (normalise_times off); a naive value would be local.
    return value.astimezone(UTC)


def _announces_mail(responses: list[Any]) -> bool:
    for response in responses:
        if response and response[0] == b"BYE":
            raise IMAPClientAbortError(f"server closed the connection: {response!r}")
        if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
            return True
    return False


def _folder_missing(client: IMAPClient, folder: str, exc: Exception) -> bool:
    return "TRYCREATE" in str(exc) or not client.folder_exists(folder)
