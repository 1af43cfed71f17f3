"""G58: a 10,000-message backlog (the mailbox after a long outage) goes through one `run --once`:
every message lands once, each reply on its own thread's ticket, acknowledgements held to the
per-sender cap, and the worker's peak memory flat: within a few MB of a 1,000-message run's.
Slow: about 11,000 messages parsed and stored on SQLite."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.maildir import deliver_to_maildir
from tests.dbhelpers import inbound_by_message_id
from tests.e2e.conftest import clean_env, write_config
from tests.e2e.test_big_mail_memory import MEASURE
from tests.mailgen import backlog
from tickets.db import make_engine, read_only
from tickets.models import Outbox, Receipt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
SENDERS = 60  # 10,000 mails from 60 people: the hourly cap holds their acknowledgements back


def _run(tmp_path: Path, count: int) -> tuple[int, list[dict], str]:
    """(peak RSS in KB, the mails, the database URL) of one `run --once` over `count` mails."""
    mails = backlog(count, reply_every=5)
    inbox = tmp_path / "maildir"
    for index, mail in enumerate(mails):
        root = index if mail["parent"] is None else mail["parent"]  # a thread keeps its person
        person = f"user{root % SENDERS}@correo.example"
        deliver_to_maildir(inbox, mail["raw"].replace(mail["sender"].encode(), person.encode()))
    url = f"sqlite:///{tmp_path}/ventanilla.db"
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": url},
            "inbox": {"kind": "maildir", "path": str(inbox)},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "helpdesk": {"agents": []},
        },
    )
    command = [sys.executable, "-m", "ventanilla", "--config", str(config), "run", "--once"]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
        timeout=400,
    )
    code, peak_kb = map(int, done.stdout.split())
    assert code == 0, done.stderr
    return peak_kb, mails, url


def test_g58_a_10000_message_backlog_lands_once_in_order_with_flat_memory(tmp_path: Path) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    small_kb, _, _ = _run(tmp_path / "small", 1_000)
    large_kb, mails, url = _run(tmp_path / "large", 10_000)
    print(f"peak RSS: {small_kb / 1024:.0f} MB for 1,000 mails, {large_kb / 1024:.0f} MB for 10,000")
    assert large_kb - small_kb < 40 * 1024, "memory grows with the backlog"

    engine = make_engine(url)
    with read_only(engine) as session:
        statuses = Counter(session.scalars(select(Receipt.status)))
        acks = Counter(session.scalars(select(Outbox.recipients).where(Outbox.kind == "ack")))
    engine_found = inbound_by_message_id(engine)
    engine.dispose()
    assert sum(statuses.values()) == 10_000 and set(statuses) <= {"ticketed", "followup"}, statuses
    assert all(len(tickets) == 1 for tickets in engine_found.values()) and len(engine_found) == 10_000
    ticket_of = {mid: tickets[0] for mid, tickets in engine_found.items()}
    for mail in mails:  # a reply never overtakes the message it answers: it joins that ticket
        if mail["parent"] is not None:
            assert ticket_of[mail["message_id"]] == ticket_of[mails[mail["parent"]]["message_id"]]
    people = Counter(f"user{i % SENDERS}@correo.example" for i, m in enumerate(mails) if m["parent"] is None)
    assert set(acks) == set(people) and all(acks[p] == min(5, n) for p, n in people.items()), acks
