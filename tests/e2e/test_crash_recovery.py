"""Invariant 1 across a real process crash: `ventanilla run` is SIGKILLed mid-backlog, then restarted.

The worker is a subprocess on a real Dovecot and a real database (SQLite file or a
PostgreSQL schema). After the kill and a `run --once`, every message must be in the
database exactly once, on the right ticket, and the server folders must be settled.
"""

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.dbhelpers import inbound_by_message_id
from tests.e2e.conftest import (
    clean_env,
    count_rows,
    folder_message_ids,
    imap_section,
    ventanilla,
    wait_until,
    write_config,
)
from tests.mailgen import append_all, backlog
from tickets.db import read_only
from tickets.models import MailboxState, Outbox, Receipt, Ticket

BACKLOG = 2000
KILL_AFTER = 300


def _config(tmp_path: Path, dovecot, db_url: str) -> Path:  # type: ignore[no-untyped-def]
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": imap_section(dovecot, batch_size=50, poll_seconds=0.5),
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )


def _receipt_ids(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        return list(session.scalars(select(Receipt.message_id)))


def _kill_mid_backlog(tmp_path: Path, config: Path, engine, worker_factory) -> int:  # type: ignore[no-untyped-def]
    """Start the worker, SIGKILL it once >= KILL_AFTER receipts are committed; return that count."""
    worker = worker_factory(config, tmp_path)
    wait_until(
        lambda: count_rows(engine, Receipt) >= KILL_AFTER or not worker.alive(),
        seconds=60,
        what="worker committing the first receipts",
        interval=0.01,
    )
    assert worker.alive(), f"the worker exited on its own:\n{worker.output()[-3000:]}"
    os.kill(worker.pid, signal.SIGKILL)
    worker.proc.wait(timeout=10)
    assert worker.proc.returncode == -signal.SIGKILL
    committed = count_rows(engine, Receipt)
    assert KILL_AFTER <= committed < BACKLOG, f"the kill must land mid-backlog ({committed} committed)"
    return committed


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_mid_backlog_then_restart_takes_every_message_exactly_once(
    dovecot, any_db_url, db_engine_for, worker_factory, tmp_path
) -> None:
    mails = backlog(BACKLOG, reply_every=5)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails)
    config = _config(tmp_path, dovecot, any_db_url)
    engine = db_engine_for(any_db_url)

    started = time.monotonic()
    committed = _kill_mid_backlog(tmp_path, config, engine, worker_factory)
    killed_after = time.monotonic() - started
    in_inbox_at_kill = len(dovecot.uids("INBOX"))
    with read_only(engine) as session:  # what the dead worker held when it died
        claimed = select(Outbox.id).where(Outbox.status == "queued", Outbox.claimed_by != "")
        held_at_kill = len(list(session.scalars(claimed)))

    restart = ventanilla("--config", config, "run", "--once", cwd=tmp_path, timeout=150)
    assert restart.returncode == 0, restart.stderr[-3000:]

    # Every Message-ID is stored exactly once, on the right ticket.
    found = inbound_by_message_id(engine)
    expected = {m["message_id"] for m in mails}
    assert set(found) == expected, f"missing {len(expected - set(found))}, extra {len(set(found) - expected)}"
    doubled = {mid: t for mid, t in found.items() if len(t) != 1}
    assert not doubled, f"{len(doubled)} messages stored more than once, e.g. {list(doubled.items())[:3]}"
    receipts = _receipt_ids(engine)
    assert len(receipts) == BACKLOG and set(receipts) == expected
    for mail in mails:
        if mail["parent"] is not None:
            assert found[mail["message_id"]] == found[mails[mail["parent"]]["message_id"]], mail["message_id"]
    assert count_rows(engine, Ticket) == sum(1 for m in mails if m["parent"] is None)
    with read_only(engine) as session:
        statuses = set(session.scalars(select(Receipt.status)))
        acks = list(session.execute(select(Outbox.id, Outbox.ticket_id, Outbox.status, Outbox.next_attempt_at,
                                           Outbox.message_id).where(Outbox.kind == "ack")))
    assert statuses <= {"ticketed", "followup"}, statuses
    # Exactly one acknowledgement per ticket was queued, none twice.
    assert len(acks) == count_rows(engine, Ticket) == len({a.ticket_id for a in acks})
    # The restart sent them all, those the dead worker had claimed included: it held them as a
    # process of this host that is gone, so the restart took them back at once (no lease to wait for).
    held = [a for a in acks if a.status != "sent"]
    assert held == [], f"{len(held)} acks still held by the dead worker's claim, e.g. {held[:3]}"
    written = {int(path.stem) for path in (tmp_path / "sent").glob("*.eml")}
    # The drainer runs while ingest does, so the kill may land between handing messages to the
    # transport and recording them sent (a group commit): the restart sent those again, under the
    # same outbox id, so the file was replaced with the same Message-ID (RFC 1047's allowed duplicate).
    assert written == {a.id for a in acks}

    # The server side is settled: INBOX empty, each message in Processed once, nothing left behind.
    assert dovecot.uids("INBOX") == []
    processed = folder_message_ids(dovecot, "Processed")
    assert len(processed) == BACKLOG and set(processed) == expected
    print(
        f"killed after {killed_after:.1f} s with {committed} receipts committed and {in_inbox_at_kill} "
        f"messages still in INBOX; restart took {time.monotonic() - started - killed_after:.1f} s; "
        f"every ack sent, {held_at_kill} of them held by the dead worker"
    )

    # A second restart finds nothing to do and changes nothing.
    again = ventanilla("--config", config, "run", "--once", cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr[-3000:]
    assert inbound_by_message_id(engine) == found and len(_receipt_ids(engine)) == BACKLOG


@pytest.mark.timeout(90)
def test_restart_right_after_sigkill_is_not_blocked_by_the_dead_workers_lease(
    dovecot, db_engine_for, worker_factory, tmp_path
) -> None:
    db_url = f"sqlite:///{tmp_path}/ventanilla.db"
    config = _config(tmp_path, dovecot, db_url)
    engine = db_engine_for(db_url)
    worker = worker_factory(config, tmp_path)

    def lease_taken() -> bool:
        try:
            with read_only(engine) as session:
                return bool(session.scalar(select(MailboxState.lease_owner)))
        except Exception:
            return False

    wait_until(lease_taken, seconds=30, what="the worker taking the mailbox lease")
    worker.kill()
    mails = backlog(5, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails)

    restart = ventanilla("--config", config, "run", "--once", cwd=tmp_path, env=clean_env(), timeout=60)

    assert restart.returncode == 0, restart.stderr
    assert count_rows(engine, Ticket) == 5, "the restarted worker took nothing: the dead worker's lease blocked it"
    assert dovecot.uids("INBOX") == []
