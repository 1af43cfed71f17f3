"""Several `ventanilla run` processes on one mailbox and one PostgreSQL database (issue 15).

Three real worker processes share a Dovecot backlog of 3,000 messages and send their
acknowledgements to a real aiosmtpd sink; the one holding the poller lease is SIGKILLed in the
middle. Afterwards every message is on exactly one ticket, every new ticket got exactly one
acknowledgement (a resend after the crash only with the same Message-ID), nothing is left
queued, and another worker took over the lease (the take-over time is printed).
"""

import os
import signal
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.dbhelpers import inbound_by_message_id, pg_schema
from tests.e2e.conftest import clean_env, count_rows, imap_section, ventanilla, wait_until, write_config
from tests.integration.smtp_sink import SmtpSink
from tests.mailgen import backlog
from tickets.db import make_engine, read_only
from tickets.ingest.spool import PENDING
from tickets.models import MailboxState, Outbox, Receipt, Ticket
from ventanilla.pipeline.holder import parse_holder

BACKLOG = 3000
WORKERS = 3


def _append_in_bulk(dovecot, mails: list[dict]) -> None:  # type: ignore[no-untyped-def]
    """MULTIAPPEND in chunks: a few round trips instead of one per message."""
    with dovecot.imap_client() as client:
        for start in range(0, len(mails), 500):
            chunk = mails[start : start + 500]
            client.multiappend("INBOX", [{"msg": m["raw"], "date": m["when"]} for m in chunk])


def _lease_owner(engine) -> str:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        state = session.get(MailboxState, "support")
        return state.lease_owner if state is not None else ""


def _settled(engine) -> bool:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        receipts = session.scalar(select(func.count()).select_from(Receipt)) or 0
        pending = session.scalar(select(func.count()).where(Receipt.status.in_([s.value for s in PENDING])))
        queued = session.scalar(select(func.count()).where(Outbox.status == "queued"))
    return receipts == BACKLOG and pending == 0 and queued == 0


def _kill_the_poller(engine, workers) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """SIGKILL the worker holding the poller lease; (its pid, seconds until another holds it)."""
    owner = _lease_owner(engine)
    _, pid, _ = parse_holder(owner)
    by_pid = {w.pid: w for w in workers}
    assert pid in by_pid, f"the lease holder {owner!r} is one of our workers"
    os.kill(pid, signal.SIGKILL)
    by_pid[pid].proc.wait(timeout=10)
    takeover = wait_until(
        lambda: _lease_owner(engine) not in ("", owner), seconds=10, what="another worker takes the lease"
    )
    return pid, takeover


def _assert_each_message_once_and_each_ack_once(engine, mails: list[dict], sink: SmtpSink) -> None:  # type: ignore[no-untyped-def]
    stored = inbound_by_message_id(engine)
    assert sorted(stored) == sorted(m["message_id"] for m in mails)
    assert all(len(tickets) == 1 for tickets in stored.values()), "every message on exactly one ticket"
    with read_only(engine) as session:
        tickets = session.scalar(select(func.count()).select_from(Ticket))
        ack_rows = session.scalars(select(Outbox).where(Outbox.kind == "ack")).all()
        acks = {row.message_id: row.ticket_id for row in ack_rows}
        statuses = Counter(session.scalars(select(Outbox.status)))
    assert tickets == sum(1 for m in mails if m["parent"] is None), "each reply joined its thread"
    assert len(acks) == len(set(acks.values())) == tickets, "one acknowledgement per new ticket"
    assert statuses == {"sent": tickets}, "nothing left queued"
    # What reached the sink: each acknowledgement; a resend (after the kill) only with its Message-ID.
    sent = Counter(str(message_from_bytes(r.raw, policy=policy.default)["Message-ID"]).strip() for r in sink.received)
    assert set(sent) == set(acks)
    resent = sum(n - 1 for n in sent.values())
    assert resent <= 16, f"{resent} resends (the crash can repeat at most 16 unrecorded sends)"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_three_workers_share_a_backlog_and_survive_the_poller_being_killed(
    dovecot, postgres_ok, smtp_sink: SmtpSink, worker_factory, tmp_path: Path
) -> None:
    if not postgres_ok:
        pytest.skip("PostgreSQL not reachable")
    mails = backlog(BACKLOG, reply_every=5)
    _append_in_bulk(dovecot, mails)
    with pg_schema("workers") as url:
        config = write_config(
            tmp_path / "ventanilla.toml",
            {
                "database": {"url": url},
                "inbox": imap_section(dovecot, batch_size=100, poll_seconds=1.0, lease_seconds=5),
                "outbound": {"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"},
            },
        )
        init = ventanilla("--config", config, "init", cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        engine = make_engine(url)
        try:
            started = time.monotonic()
            workers = [worker_factory(config, tmp_path, env=clean_env()) for _ in range(WORKERS)]
            wait_until(lambda: count_rows(engine, Ticket) >= BACKLOG // 4, seconds=60, what="a quarter ticketed")
            killed_at, ticketed_at_kill = time.monotonic() - started, count_rows(engine, Ticket)
            pid, takeover = _kill_the_poller(engine, workers)
            wait_until(lambda: _settled(engine), seconds=150, what="the survivors settle", interval=0.25)
            wait_until(lambda: not dovecot.uids("INBOX"), seconds=20, what="the INBOX emptied")
            elapsed = time.monotonic() - started
            survivors = [w for w in workers if w.pid != pid]
            assert all(w.alive() for w in survivors), "\n".join(w.output()[-2000:] for w in survivors)
            assert "Traceback" not in "".join(w.output() for w in workers)
            _assert_each_message_once_and_each_ack_once(engine, mails, smtp_sink)
            # The work was shared: every survivor processed messages (its one line per message).
            shares = {w.pid: w.output().count(" uid=") for w in workers}
            assert all(shares[w.pid] > 0 for w in survivors), shares
            print(
                f"\n{WORKERS} workers, {BACKLOG} messages: settled in {elapsed:.1f} s; the poller killed after "
                f"{killed_at:.1f} s ({ticketed_at_kill} tickets); lease taken over in {takeover * 1000:.0f} ms; "
                f"messages processed: killed worker {shares.pop(pid)}, survivors {sorted(shares.values())}"
            )
        finally:
            engine.dispose()
