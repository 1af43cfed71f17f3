"""`outbox flush` tries every queued message now, and `sla sweep --now` ahead of the clock warns or
only shows (issue 12 item 14): the CLI as a subprocess, a real aiosmtpd sink, SQLite and PostgreSQL."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.e2e.conftest import ventanilla, write_config
from tests.integration.smtp_sink import SmtpSink
from tests.mailgen import message
from tickets.db import read_only, transaction
from tickets.models import Outbox
from tickets.outbox import queries

SENDER = "marta.gil@correo.example"
SUPERVISOR = "supervision@ventanilla.example"


def _config(tmp_path: Path, db_url: str, sink: SmtpSink) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
            "outbound": {"kind": "smtp", "host": "127.0.0.1", "port": sink.port, "security": "none"},
            "helpdesk": {"supervisors": [SUPERVISOR]},
        },
    )


def _deliver(config: Path, cwd: Path) -> None:
    _, raw = message(
        index=1, sender=SENDER, subject="No puedo descargar mi certificado", body="El código no es válido.",
        when=datetime.now(UTC) - timedelta(minutes=5),
    )
    done = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=cwd, stdin=raw)
    assert done.returncode == 0, done.stderr


def _rows(engine: Engine) -> list[Outbox]:
    with read_only(engine) as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def _lines(output: str) -> list[str]:
    return [line for line in re.split(r"[\r\n]", output) if line.strip()]


def test_flush_sends_alerts_dated_ahead_by_a_sweep_and_says_what_it_did(
    any_db_url: str, db_engine_for, smtp_sink: SmtpSink, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    config = _config(tmp_path, any_db_url, smtp_sink)
    _deliver(config, tmp_path)
    engine = db_engine_for(any_db_url)
    later = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")

    dry = ventanilla("--config", config, "sla", "sweep", "--now", later, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "#1 cycle 1: warn-24h" in dry.stdout and "#1 cycle 1: breach-24h" in dry.stdout
    assert "2 alerts" in dry.stdout and "nothing written" in dry.stdout and "warning" not in dry.stderr
    assert all(len(line) <= 80 for line in _lines(dry.stdout)), dry.stdout
    assert [r.kind for r in _rows(engine)] == ["ack"], "a dry run wrote to the outbox"

    swept = ventanilla("--config", config, "sla", "sweep", "--now", later, cwd=tmp_path)
    assert swept.returncode == 0, swept.stderr
    warnings = [line for line in swept.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "30.0 h ahead" in warnings[0] and len(warnings[0]) <= 80, warnings
    alerts = [r for r in _rows(engine) if r.kind != "ack"]
    assert alerts and all(r.next_attempt_at > datetime.now(UTC) + timedelta(hours=29) for r in alerts)

    flushed = ventanilla("--config", config, "outbox", "flush", cwd=tmp_path)

    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    rows = _rows(engine)
    assert {r.status for r in rows} == {"sent"}, [(r.kind, r.status, r.next_attempt_at) for r in rows]
    assert len(smtp_sink.received) == len(rows) and smtp_sink.delivered_to(SUPERVISOR)
    assert f"{len(alerts)} queued for a later time" in flushed.stdout
    assert f"{len(rows)} sent" in flushed.stdout and "still queued: none" in flushed.stdout
    assert all(len(line) <= 80 for line in _lines(flushed.stdout)), flushed.stdout


def test_flush_retries_a_deferred_message_now_and_says_why_one_still_waits(
    any_db_url: str, db_engine_for, smtp_sink: SmtpSink, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    config = _config(tmp_path, any_db_url, smtp_sink)
    _deliver(config, tmp_path)
    engine = db_engine_for(any_db_url)
    smtp_sink.script("data", "451 4.3.0 try again later")

    first = ventanilla("--config", config, "outbox", "flush", cwd=tmp_path)
    assert first.returncode == 75, "a deferral is no success: EX_TEMPFAIL\n" + first.stdout + first.stderr
    (ack,) = _rows(engine)
    assert ack.status == "queued" and ack.next_attempt_at > datetime.now(UTC)  # waiting on its backoff
    assert "1 deferred" in first.stdout and "still queued: 1" in first.stdout
    assert f"#{ack.id} ack to {SENDER}\n" in first.stdout
    assert re.search(r"\n +deferred to [-\d]+ [:\d]+ CES?T: 451 4\.3\.0 try again later\n", first.stdout), first.stdout

    again = ventanilla("--config", config, "outbox", "flush", cwd=tmp_path)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 sent" in again.stdout and "still queued: none" in again.stdout
    assert _rows(engine)[0].status == "sent" and len(smtp_sink.received) == 1


def test_flush_leaves_what_another_live_sender_holds_and_names_it(
    any_db_url: str, db_engine_for, smtp_sink: SmtpSink, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    config = _config(tmp_path, any_db_url, smtp_sink)
    _deliver(config, tmp_path)
    engine = db_engine_for(any_db_url)
    with transaction(engine) as connection:  # a worker on another host is sending it right now
        (held,) = queries.claim_due(connection, datetime.now(UTC), 10, holder="worker-b.example:4242:99")

    flushed = ventanilla("--config", config, "outbox", "flush", cwd=tmp_path)

    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    assert smtp_sink.received == [] and _rows(engine)[0].status == "queued"
    assert "still queued: 1" in flushed.stdout
    assert f"#{held.id} ack to {SENDER}\n    being sent by worker-b.example:4242:99, heartbeat" in flushed.stdout
