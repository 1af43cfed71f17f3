"""Named crash points of the IMAP intake, each hit by a real `ventanilla run --once` subprocess on
the private Dovecot (VENTANILLA_CRASH_AT: the process SIGKILLs itself there), then restarted.

A1: killed after the fetch, before the spool commit: the restart fetches the mail again.
A3: on a server without MOVE, killed between the COPY to the processed folder and the EXPUNGE
(before and after the receipts record the copy): the restart never copies again.
Each time: every message ticketed once, acknowledged once, once in Processed, none left in INBOX.
"""

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.dbhelpers import inbound_by_message_id
from tests.e2e.conftest import clean_env, count_rows, folder_message_ids, imap_section, ventanilla, write_config
from tests.integration.dovecot import Dovecot
from tests.mailgen import message
from tickets.db import read_only
from tickets.models import Outbox, Receipt, Ticket

pytestmark = pytest.mark.timeout(120)
COUNT = 3


def _mails(server: Dovecot) -> set[str]:
    """COUNT new questions in INBOX; their Message-IDs."""
    ids = set()
    for index in range(1, COUNT + 1):
        mid, raw = message(
            index=index,
            sender=f"user{index}@correo.example",
            subject=f"No puedo descargar mi certificado ({index})",
            body="Al descargar el certificado me dice que el código de solicitud no es válido.",
            when=datetime.now(UTC) - timedelta(minutes=5),
        )
        server.append("INBOX", raw)
        ids.add(mid)
    return ids


def _config(tmp_path: Path, server: Dovecot, db_url: str) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": imap_section(server, parse_processes=0),
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )


def _crash_at(point: str, config: Path, tmp_path: Path) -> None:
    crashed = ventanilla("--config", config, "run", "--once", cwd=tmp_path, env=clean_env(VENTANILLA_CRASH_AT=point))
    assert crashed.returncode == -signal.SIGKILL, f"never reached {point}:\n{crashed.stderr[-3000:]}"


def _receipts(engine) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        return [(r.status, r.copied_to) for r in session.execute(select(Receipt.status, Receipt.copied_to))]


def _restart_settles_everything(  # type: ignore[no-untyped-def]
    server: Dovecot, expected: set[str], config: Path, tmp_path: Path, engine
) -> str:
    """Restart; then each message is ticketed, acknowledged and in Processed exactly once. The restart's log."""
    restarted = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert server.uids("INBOX") == [], "nothing left in the inbox"
    processed = folder_message_ids(server, "Processed")
    assert sorted(processed) == sorted(expected), f"one copy of each in Processed, found {processed}"
    found = inbound_by_message_id(engine)
    assert set(found) == expected and all(len(tickets) == 1 for tickets in found.values()), found
    assert count_rows(engine, Ticket) == COUNT
    with read_only(engine) as session:
        assert sorted(session.scalars(select(Outbox.kind))) == ["ack"] * COUNT
    assert len(list((tmp_path / "sent").glob("*.eml"))) == COUNT, "each acknowledgement sent once"
    again = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(folder_message_ids(server, "Processed")) == sorted(expected)
    assert inbound_by_message_id(engine) == found
    return restarted.stderr


def test_a1_killed_after_the_fetch_before_the_spool_commit_fetches_again_and_tickets_once(
    dovecot, db_engine_for, tmp_path
) -> None:
    url = f"sqlite:///{tmp_path}/ventanilla.db"
    expected = _mails(dovecot)
    config = _config(tmp_path, dovecot, url)
    engine = db_engine_for(url)

    _crash_at("intake:fetched", config, tmp_path)
    assert count_rows(engine, Receipt) == 0 and count_rows(engine, Ticket) == 0, "nothing committed"
    inbox = dovecot.uids("INBOX")
    assert len(inbox) == COUNT and all("\\Seen" not in dovecot.flags("INBOX", uid) for uid in inbox)

    _restart_settles_everything(dovecot, expected, config, tmp_path, engine)


def test_a3_killed_after_the_copy_before_the_receipt_records_it_the_restart_does_not_copy_again(
    dovecot_without_move, any_db_url, db_engine_for, tmp_path
) -> None:
    server = dovecot_without_move
    assert "MOVE" not in server.capabilities()
    expected = _mails(server)
    config = _config(tmp_path, server, any_db_url)
    engine = db_engine_for(any_db_url)

    _crash_at("imap:copied", config, tmp_path)
    assert len(server.uids("INBOX")) == COUNT and len(server.uids("Processed")) == COUNT, "copied, not deleted"
    assert _receipts(engine) == [("ticketed", "")] * COUNT, "the copy is not recorded yet"

    log = _restart_settles_everything(server, expected, config, tmp_path, engine)
    assert "in Processed already: not copied again" in log, log[-3000:]


def test_a3_killed_after_the_receipt_records_the_copy_the_restart_only_deletes(
    dovecot_without_move, any_db_url, db_engine_for, tmp_path
) -> None:
    server = dovecot_without_move
    expected = _mails(server)
    config = _config(tmp_path, server, any_db_url)
    engine = db_engine_for(any_db_url)

    _crash_at("imap:copy-recorded", config, tmp_path)
    assert len(server.uids("INBOX")) == COUNT and len(server.uids("Processed")) == COUNT, "copied, not deleted"
    assert _receipts(engine) == [("ticketed", "Processed")] * COUNT

    log = _restart_settles_everything(server, expected, config, tmp_path, engine)
    assert f"{COUNT} message(s) copied before: only deleted" in log, log[-3000:]
    assert "not copied again" not in log, "the receipts said so: no need to look"
