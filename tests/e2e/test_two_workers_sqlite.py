"""A10: two `ventanilla run` processes on one SQLite file and one Maildir (an operator who started
the worker twice). Both stay up and stop cleanly, neither reports "database is locked", and every
message is ticketed once and acknowledged once, whichever process took it. Neither was given
`ventanilla init`: both create the database at the same moment."""

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.maildir import deliver_to_maildir
from tests.dbhelpers import inbound_by_message_id
from tests.e2e.conftest import wait_until, write_config
from tests.mailgen import question
from tickets.db import make_engine, read_only
from tickets.errors import DatabaseUnavailableError
from tickets.models import Outbox, Receipt

pytestmark = pytest.mark.timeout(180)
BEFORE, DURING = 120, 80


def _mail(index: int) -> tuple[str, bytes]:
    subject = f"No puedo renovar mi certificado ({index})"
    return question(index, subject, "Me dice que el certificado ha caducado y no me deja renovarlo.")


def _settled(engine, total: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        with read_only(engine) as session:
            statuses = list(session.scalars(select(Receipt.status)))
            queued = list(session.scalars(select(Outbox.status).where(Outbox.status != "sent")))
    except DatabaseUnavailableError:  # both workers are still creating the database
        return False
    return len(statuses) == total and set(statuses) == {"ticketed"} and not queued


def test_a10_two_workers_on_one_sqlite_file_take_each_message_once(tmp_path: Path, worker_factory) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'ventanilla.db'}"
    inbox = tmp_path / "maildir"
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": url},
            "inbox": {"kind": "maildir", "path": str(inbox), "poll_seconds": 0.2, "batch_size": 20},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )
    ids = set()
    for index in range(1, BEFORE + 1):
        mid, raw = _mail(index)
        deliver_to_maildir(inbox, raw)
        ids.add(mid)
    first, second = worker_factory(config, tmp_path), worker_factory(config, tmp_path)
    for index in range(BEFORE + 1, BEFORE + DURING + 1):  # more mail while both run
        mid, raw = _mail(index)
        deliver_to_maildir(inbox, raw)
        ids.add(mid)
        time.sleep(0.01)
    engine = make_engine(url)
    try:
        wait_until(lambda: _settled(engine, len(ids)), seconds=120, what="both workers to settle")
    finally:
        codes = (first.terminate(timeout=30), second.terminate(timeout=30))
    output = first.output() + second.output()
    assert codes == (0, 0), output[-3000:]
    assert "database is locked" not in output.lower(), output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    found = inbound_by_message_id(engine)
    assert set(found) == ids and all(len(tickets) == 1 for tickets in found.values())
    assert len({t for tickets in found.values() for t in tickets}) == len(ids), "each message its own ticket"
    sent = list((tmp_path / "sent").glob("*.eml"))
    assert len(sent) == len(ids), "one acknowledgement per ticket, sent once"
    assert list((inbox / "new").iterdir()) == [] and list((inbox / "cur").iterdir()) == []
