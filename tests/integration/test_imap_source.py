"""ImapSource against a real, private Dovecot: no mocks."""

import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from config.settings import InboxSettings
from mailer.errors import InsecureConnectionError, SourceAuthError, SourceUnavailableError
from mailer.imap import ImapSource
from tests.integration.dovecot import Dovecot

pytestmark = [pytest.mark.dovecot, pytest.mark.timeout(60)]

MakeSettings = Callable[..., InboxSettings]


def message(n: int, body: bytes = b"hello\r\n") -> bytes:
    return (
        f"From: client{n}@example.com\r\nTo: soporte@ventanilla.example\r\n"
        f"Subject: question {n}\r\nMessage-ID: <m{n}@example.com>\r\n\r\n"
    ).encode() + body


@pytest.fixture
def settings(imap_settings: MakeSettings) -> InboxSettings:
    return imap_settings()


@pytest.fixture
def make_source() -> Iterator[Callable[..., ImapSource]]:
    """Factory that closes every source it made."""
    made: list[ImapSource] = []

    def make(settings: InboxSettings, **kwargs: Any) -> ImapSource:
        source = ImapSource(settings, **kwargs)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


@pytest.fixture
def source(make_source: Callable[..., ImapSource], settings: InboxSettings) -> ImapSource:
    src = make_source(settings)
    src.open()
    return src


@pytest.fixture
def in_thread() -> Iterator[Callable[..., Future[Any]]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool.submit


# -- scan and fetch -----------------------------------------------------------------------


def test_scan_and_fetch_return_bytes_size_and_utc_internaldate(
    dovecot: Dovecot, source: ImapSource
) -> None:
    madrid = timezone(timedelta(hours=2))
    sent = datetime(2024, 5, 17, 9, 30, 15, tzinfo=madrid)
    raws = [message(1), message(2, b"segundo\r\n")]
    uids = [dovecot.append("INBOX", raw, internaldate=sent) for raw in raws]

    state = source.scan(after_uid=0)
    fetched = source.fetch(list(state.uids), max_bytes=1_000_000)

    assert state.uids == tuple(uids)
    assert state.uidvalidity > 0
    assert [m.raw for m in fetched] == raws
    assert [m.size for m in fetched] == [len(r) for r in raws]
    assert all(not m.oversize for m in fetched)
    assert fetched[0].arrived_at == datetime(2024, 5, 17, 7, 30, 15, tzinfo=UTC)
    assert fetched[0].arrived_at.utcoffset() == timedelta(0)


def test_fetch_does_not_set_seen(dovecot: Dovecot, source: ImapSource) -> None:
    uid = dovecot.append("INBOX", message(1))
    source.fetch([uid], max_bytes=1_000_000)
    assert "\\Seen" not in dovecot.flags("INBOX", uid)


def test_processed_mode_lists_everything_still_in_the_folder(
    dovecot: Dovecot, source: ImapSource
) -> None:
    uids = [dovecot.append("INBOX", message(n), flags=["\\Seen"]) for n in range(3)]
    assert source.scan(after_uid=uids[-1]).uids == tuple(uids)


def test_flag_only_mode_selects_by_uid_not_by_unseen(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    source = make_source(imap_settings(processed_folder=""))
    first, second = dovecot.append("INBOX", message(1)), dovecot.append("INBOX", message(2))
    dovecot.add_flags("INBOX", [second], ["\\Seen"])  # another client read it

    assert source.scan(after_uid=0).uids == (first, second)
    assert source.scan(after_uid=second).uids == (first,)  # unseen leftover below the mark
    dovecot.add_flags("INBOX", [first], ["\\Seen"])
    assert source.scan(after_uid=second).uids == ()  # "N:*" still matches the top UID
    third = dovecot.append("INBOX", message(3), flags=["\\Seen"])
    assert source.scan(after_uid=second).uids == (third,)


def test_oversize_message_is_not_downloaded(dovecot: Dovecot, source: ImapSource) -> None:
    big = message(1, b"x" * 998 + b"\r\n") + b"y" * 76 * 3000
    small_uid = dovecot.append("INBOX", message(2))
    big_uid = dovecot.append("INBOX", big)

    fetched = {m.uid: m for m in source.fetch([big_uid, small_uid], max_bytes=50_000)}
    source.close()

    assert fetched[big_uid].oversize and fetched[big_uid].raw == b""
    assert fetched[big_uid].size == len(big)
    header = fetched[big_uid].header  # read alone, to tell its sender (F56)
    assert header == big[: big.index(b"\r\n\r\n") + 4] and b"Subject: question 1\r\n" in header
    assert fetched[small_uid].raw == message(2) and not fetched[small_uid].oversize
    assert max(_bytes_sent_per_session(dovecot)) < 50_000  # Dovecot's own logout counters


def _bytes_sent_per_session(server: Dovecot) -> list[int]:
    pattern = re.compile(rf"imap\({server.user}\).*Disconnected.* out=(\d+)")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        sent = [int(m) for m in pattern.findall(server.log_path.read_text())]
        if len(sent) >= 3:  # two appends + the source's session
            return sent
        time.sleep(0.05)
    raise AssertionError("no logout lines in the Dovecot log")


def test_uid_expunged_between_scan_and_fetch_is_skipped(
    dovecot: Dovecot, source: ImapSource
) -> None:
    uids = [dovecot.append("INBOX", message(n)) for n in range(3)]
    state = source.scan(after_uid=0)
    dovecot.expunge("INBOX", [uids[1]])

    fetched = source.fetch(list(state.uids), max_bytes=1_000_000)

    assert [m.uid for m in fetched] == [uids[0], uids[2]]


def test_recreated_folder_gives_new_uidvalidity(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    dovecot.recreate_folder("Support")
    source = make_source(imap_settings(folder="Support"))
    before = source.scan(after_uid=0).uidvalidity

    dovecot.recreate_folder("Support")
    dovecot.append("Support", message(1))

    after = source.scan(after_uid=0)  # Dovecot lets the old session select it again
    assert after.uidvalidity != before
    assert len(after.uids) == 1


def test_fetch_after_reconnect_refuses_uids_of_an_older_uidvalidity(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    dovecot.append("Support", message(1))
    source = make_source(imap_settings(folder="Support"))
    old = source.scan(after_uid=0)
    source.close()
    dovecot.recreate_folder("Support")
    dovecot.append("Support", message(2))

    with pytest.raises(SourceUnavailableError, match="UIDVALIDITY"):
        source.fetch(list(old.uids), max_bytes=1_000_000)
    with pytest.raises(SourceUnavailableError, match="UIDVALIDITY"):
        source.mark_processed(list(old.uids))
    assert source.scan(after_uid=0).uidvalidity != old.uidvalidity
    assert len(dovecot.uids("Support")) == 1


# -- marking ------------------------------------------------------------------------------


def test_mark_processed_creates_folder_and_moves(dovecot: Dovecot, source: ImapSource) -> None:
    uids = [dovecot.append("INBOX", message(n)) for n in range(3)]
    source.scan(after_uid=0)

    source.mark_processed(uids[:2])

    assert dovecot.uids("INBOX") == [uids[2]]
    assert len(dovecot.uids("Processed")) == 2
    assert source.scan(after_uid=uids[2]).uids == (uids[2],)


def test_mark_processed_recreates_a_deleted_folder(dovecot: Dovecot, source: ImapSource) -> None:
    first, second = dovecot.append("INBOX", message(1)), dovecot.append("INBOX", message(2))
    source.scan(after_uid=0)
    source.mark_processed([first])
    dovecot.delete_folder("Processed")

    source.mark_processed([second])

    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("Processed")) == 1


def test_mark_processed_counts_a_vanished_uid_as_done(dovecot: Dovecot, source: ImapSource) -> None:
    first, second = dovecot.append("INBOX", message(1)), dovecot.append("INBOX", message(2))
    source.scan(after_uid=0)
    dovecot.expunge("INBOX", [first])

    source.mark_processed([first, second])
    source.mark_processed([first])

    assert dovecot.uids("INBOX") == []
    assert len(dovecot.uids("Processed")) == 1


def test_mark_processed_in_flag_only_mode_sets_seen(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    source = make_source(imap_settings(processed_folder=""))
    uid = dovecot.append("INBOX", message(1))
    source.scan(after_uid=0)

    source.mark_processed([uid])

    assert "\\Seen" in dovecot.flags("INBOX", uid)
    assert source.scan(after_uid=uid).uids == ()


def test_mark_quarantined_moves_to_quarantine(dovecot: Dovecot, source: ImapSource) -> None:
    good, bad = dovecot.append("INBOX", message(1)), dovecot.append("INBOX", message(2))
    source.scan(after_uid=0)

    source.mark_quarantined([bad])

    assert dovecot.uids("INBOX") == [good]
    assert len(dovecot.uids("Quarantine")) == 1
    assert not dovecot.folder_exists("Processed")


def test_without_move_copies_and_expunges_only_our_uids(
    dovecot_without_move: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    server = dovecot_without_move
    assert "MOVE" not in server.capabilities()
    ours, theirs = server.append("INBOX", message(1)), server.append("INBOX", message(2))
    server.add_flags("INBOX", [theirs], ["\\Deleted"])  # another client's pending delete
    settings = InboxSettings(
        kind="imap",
        port=server.port,
        security="none",
        username=server.user,
        password=SecretStr(server.password),
    )
    source = make_source(settings)
    source.scan(after_uid=0)

    source.mark_processed([ours])

    assert server.uids("INBOX") == [theirs]
    assert len(server.uids("Processed")) == 1


# -- connection, auth, security -----------------------------------------------------------


def test_server_down_is_unavailable_and_open_reconnects_after_restart(
    dovecot: Dovecot, source: ImapSource
) -> None:
    uid = dovecot.append("INBOX", message(1))
    source.scan(after_uid=0)
    dovecot.stop()
    try:
        with pytest.raises(SourceUnavailableError):
            source.scan(after_uid=0)
        with pytest.raises(SourceUnavailableError):
            source.open()
    finally:
        dovecot.start()
    source.open()
    assert source.scan(after_uid=0).uids == (uid,)


def test_wrong_password_is_an_auth_error(
    make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    source = make_source(imap_settings(password="not-the-password"))
    with pytest.raises(SourceAuthError):
        source.open()


def test_password_provider_overrides_settings(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    settings = imap_settings(password="stale")
    source = make_source(settings, password_provider=lambda: dovecot.password)
    source.open()
    assert source.scan(after_uid=0).uids == ()


def test_xoauth2_logs_in_with_the_token_command_output(
    dovecot: Dovecot, make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    # Dovecot 2.3 checks an XOAUTH2 bearer token like a password against passwd-file.
    command = shlex.join([sys.executable, "-c", f"print({dovecot.password!r})"])
    settings = imap_settings(auth="xoauth2", password="unused", oauth2_token_command=command)
    source = make_source(settings)
    source.open()
    assert source.scan(after_uid=0).uids == ()


def test_xoauth2_failing_token_command_is_a_clear_auth_error(
    make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    script = "import sys; sys.stderr.write('no refresh token'); sys.exit(3)"
    command = shlex.join([sys.executable, "-c", script])
    source = make_source(imap_settings(auth="xoauth2", oauth2_token_command=command))
    with pytest.raises(SourceAuthError, match=r"exit status 3.*no refresh token"):
        source.open()


def test_starttls_refused_when_server_does_not_offer_it(
    make_source: Callable[..., ImapSource], imap_settings: MakeSettings
) -> None:
    source = make_source(imap_settings(security="starttls"))
    with pytest.raises(InsecureConnectionError):
        source.open()


def test_tls_and_starttls_with_trusted_ca(
    dovecot_tls: Dovecot, make_source: Callable[..., ImapSource]
) -> None:
    common: dict[str, Any] = {
        "kind": "imap",
        "username": dovecot_tls.user,
        "password": SecretStr(dovecot_tls.password),
        "ca_file": str(dovecot_tls.cert_path),
    }
    implicit = make_source(InboxSettings(port=dovecot_tls.imaps_port, security="tls", **common))
    upgraded = make_source(InboxSettings(port=dovecot_tls.port, security="starttls", **common))
    for source in (implicit, upgraded):
        source.open()
        assert source.scan(after_uid=0).uids == ()


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_untrusted_certificate_is_refused(
    dovecot_tls: Dovecot,
    make_source: Callable[..., ImapSource],
    security: Literal["tls", "starttls"],
) -> None:
    port = dovecot_tls.imaps_port if security == "tls" else dovecot_tls.port
    settings = InboxSettings(
        kind="imap",
        port=port,
        security=security,
        username=dovecot_tls.user,
        password=SecretStr(dovecot_tls.password),
    )
    with pytest.raises(InsecureConnectionError):
        make_source(settings).open()


def test_close_is_idempotent(source: ImapSource) -> None:
    source.close()
    source.close()


# -- waiting ------------------------------------------------------------------------------


def test_wait_returns_soon_after_new_mail_with_idle(
    dovecot: Dovecot, source: ImapSource, in_thread: Callable[..., Future[Any]]
) -> None:
    source.scan(after_uid=0)
    waiting = in_thread(source.wait, 20)
    time.sleep(0.5)
    assert not waiting.done()

    dovecot.append("INBOX", message(1))
    appended = time.monotonic()
    waiting.result(timeout=5)

    assert time.monotonic() - appended < 1.5
    assert len(source.scan(after_uid=0).uids) == 1


def test_wait_returns_at_once_for_mail_that_came_after_the_scan(
    dovecot: Dovecot, source: ImapSource
) -> None:
    source.scan(after_uid=0)
    dovecot.append("INBOX", message(1))
    started = time.monotonic()
    source.wait(20)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("idle", [True, False])
def test_interrupt_stops_wait(
    imap_settings: MakeSettings,
    make_source: Callable[..., ImapSource],
    in_thread: Callable[..., Future[Any]],
    idle: bool,
) -> None:
    source = make_source(imap_settings(idle=idle))
    source.scan(after_uid=0)
    waiting = in_thread(source.wait, 30)
    time.sleep(0.5)

    source.interrupt()
    interrupted = time.monotonic()
    waiting.result(timeout=5)

    assert time.monotonic() - interrupted < 1.5
    assert source.scan(after_uid=0).uids == ()  # the connection is still usable


def test_wait_without_idle_polls_for_the_timeout(
    imap_settings: MakeSettings, make_source: Callable[..., ImapSource]
) -> None:
    source = make_source(imap_settings(idle=False))
    started = time.monotonic()
    source.wait(0.3)
    assert 0.25 < time.monotonic() - started < 1


def test_server_stopping_during_idle_is_unavailable(
    dovecot: Dovecot, source: ImapSource, in_thread: Callable[..., Future[Any]]
) -> None:
    source.scan(after_uid=0)
    waiting = in_thread(source.wait, 30)
    time.sleep(0.5)
    try:
        dovecot.stop()
        with pytest.raises(SourceUnavailableError):
            waiting.result(timeout=5)
    finally:
        dovecot.start()
    source.open()
    assert source.scan(after_uid=0).uids == ()

