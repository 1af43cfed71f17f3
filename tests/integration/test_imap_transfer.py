"""Moving mail out of the inbox on a server without MOVE (issue 12 item 5): a message a dead
process copied is not copied again; one its receipt says was copied is only deleted."""

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from config.settings import InboxSettings
from mailer.imap import ImapSource
from tests.integration.dovecot import Dovecot
from tests.integration.test_imap_source import message

pytestmark = [pytest.mark.dovecot, pytest.mark.timeout(60)]


@pytest.fixture
def source(dovecot_without_move: Dovecot) -> Iterator[ImapSource]:
    server = dovecot_without_move
    settings = InboxSettings(
        kind="imap", port=server.port, security="none", username=server.user, password=SecretStr(server.password)
    )
    made = ImapSource(settings)
    yield made
    made.close()


def test_without_move_a_leftover_copied_by_a_dead_process_is_only_deleted_and_the_copy_is_reported(
    dovecot_without_move: Dovecot, source: ImapSource
) -> None:
    server = dovecot_without_move
    copied, other = server.append("INBOX", message(1)), server.append("INBOX", message(2))
    server.append("Processed", message(2, body=b"same Message-ID, other bytes\r\n"))
    with server.imap_client() as client:  # what the dead process did before it could record it
        client.select_folder("INBOX")
        client.copy([copied], "Processed")
    source.scan(after_uid=0)
    told: list[tuple[object, ...]] = []

    source.mark_processed([copied, other], on_copied=lambda *args: told.append(args), maybe_copied=True)

    assert server.uids("INBOX") == []
    assert len(server.uids("Processed")) == 3, "message 1 once, message 2 and its look-alike"
    assert told == [([copied, other], "Processed")]


def test_delete_copied_only_deletes(dovecot_without_move: Dovecot, source: ImapSource) -> None:
    server = dovecot_without_move
    uid, kept = server.append("INBOX", message(1)), server.append("INBOX", message(2))
    source.scan(after_uid=0)

    source.delete_copied([uid])

    assert server.uids("INBOX") == [kept]
    assert not server.folder_exists("Processed")
