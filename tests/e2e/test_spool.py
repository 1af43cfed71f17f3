"""The durable spool as an operator and an MTA see it: the bytes are committed before anything is
decided, so a failure of processing, or a crash right after the commit, loses nothing and doubles
nothing. Real subprocesses, real files, SQLite and PostgreSQL."""

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from mailer.maildir import deliver_to_maildir
from tests.e2e.conftest import clean_env, ventanilla, write_config
from tests.mailgen import message
from tickets.db import read_only
from tickets.models import Outbox, Receipt, Ticket


def _config(tmp_path: Path, db_url: str, **templates: str) -> Path:
    sections = {
        "database": {"url": db_url},
        "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "parse_processes": 0},
        "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
    }
    if templates:
        sections["templates"] = templates
    return write_config(tmp_path / "ventanilla.toml", sections)


def _mail(index: int) -> tuple[str, bytes]:
    return message(
        index=index,
        sender=f"user{index}@correo.example",
        subject=f"No puedo descargar mi certificado ({index})",
        body="Al descargar el certificado me dice que el código de solicitud no es válido.",
        when=datetime.now(UTC) - timedelta(minutes=5),
    )


def _state(db_engine_for, url: str) -> tuple[dict[str, int], int, list[str]]:  # type: ignore[no-untyped-def]
    """(receipt statuses counted, tickets, outbox kinds) as the database has them."""
    with read_only(db_engine_for(url)) as session:
        statuses: dict[str, int] = {}
        for status in session.scalars(select(Receipt.status)):
            statuses[status] = statuses.get(status, 0) + 1
        tickets = len(session.scalars(select(Ticket.id)).all())
        kinds = sorted(session.scalars(select(Outbox.kind)))
    return statuses, tickets, kinds


def test_deliver_with_a_broken_template_exits_0_and_the_message_waits_until_it_is_fixed(
    any_db_url, tmp_path, db_engine_for
) -> None:
    overrides = tmp_path / "my-templates"
    for language in ("es", "en"):
        (overrides / language).mkdir(parents=True)
        (overrides / language / "ack.txt").write_text("Hola {{ no_such_value }}\n", encoding="utf-8")
    config = _config(tmp_path, any_db_url, path=str(overrides))
    _, raw = _mail(1)

    delivered = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw)
    assert delivered.returncode == 0, delivered.stderr  # committed: the MTA may let it go
    assert "spooled" in delivered.stdout and "no_such_value" in delivered.stdout, delivered.stdout
    assert "Traceback" not in delivered.stderr
    statuses, tickets, kinds = _state(db_engine_for, any_db_url)
    assert statuses == {"received": 1} and tickets == 0 and kinds == []

    # A template error is the operator's, not the message's: retrying (after 2 s, then 4 s...)
    # counts no attempt against it, however often it happens.
    for _ in range(4):
        time.sleep(2.2)
        still = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
        assert still.returncode == 0, still.stderr
    statuses, tickets, _ = _state(db_engine_for, any_db_url)
    assert statuses == {"received": 1} and tickets == 0, "never quarantined for a broken template"
    with read_only(db_engine_for(any_db_url)) as session:
        assert session.scalars(select(Receipt.attempts)).one() == 0

    for language in ("es", "en"):
        (overrides / language / "ack.txt").unlink()
    time.sleep(2.2)
    fixed = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    again = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    statuses, tickets, kinds = _state(db_engine_for, any_db_url)
    assert statuses == {"ticketed": 1} and tickets == 1
    assert kinds.count("ack") == 1
    acks = [p for p in (tmp_path / "sent").glob("*.eml") if b"To: user1@correo.example" in p.read_bytes()]
    assert len(acks) == 1, "one acknowledgement, sent once"


def test_sigkill_between_the_spool_commit_and_marking_the_source_changes_nothing(
    any_db_url, tmp_path, db_engine_for
) -> None:
    config = _config(tmp_path, any_db_url)
    inbox = tmp_path / "maildir"
    for index in range(1, 4):
        deliver_to_maildir(inbox, _mail(index)[1])

    crashed = ventanilla(
        "--config", config, "run", "--once", cwd=tmp_path, env=clean_env(VENTANILLA_CRASH_AT="intake:spooled")
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    statuses, tickets, kinds = _state(db_engine_for, any_db_url)
    assert statuses == {"received": 3} and tickets == 0 and kinds == []  # committed, nothing decided
    assert len(list((inbox / "new").iterdir())) == 3, "the source was not marked: the crash came first"

    restarted = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    statuses, tickets, kinds = _state(db_engine_for, any_db_url)
    assert statuses == {"ticketed": 3} and tickets == 3 and kinds == ["ack"] * 3
    assert list((inbox / "new").iterdir()) == [] and list((inbox / "cur").iterdir()) == []
    assert len(list((inbox / ".Processed" / "cur").iterdir())) == 3

    once_more = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert once_more.returncode == 0, once_more.stderr[-2000:]
    assert _state(db_engine_for, any_db_url) == (statuses, tickets, kinds)
    assert len(list((tmp_path / "sent").glob("*.eml"))) == 3, "each acknowledgement sent once"
