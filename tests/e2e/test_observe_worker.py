"""A real `ventanilla run` serving /metrics and /healthz (asked with urllib), JSON logs, and
`ventanilla status` as a subprocess; the status command's output on SQLite (the facts behind it are
tested on both backends in tests/integration/test_status_facts.py)."""

import json
import re
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from mailer.maildir import deliver_to_maildir
from tests.e2e.conftest import SQLITE_ONLY, Worker, count_rows, imap_section, ventanilla, wait_until, write_config
from tests.integration.smtp_sink import unused_port
from tests.integration.test_status_server import get, samples
from tests.mailgen import backlog
from tickets.db import unit_of_work
from tickets.models import MailboxState, Receipt, Ticket

LISTENING = re.compile(r"metrics on http://([0-9.]+):(\d+)/metrics")


def _config(tmp_path: Path, db_url: str, **inbox: object) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": inbox or {"kind": "maildir", "path": str(tmp_path / "maildir"), "poll_seconds": 0.5},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "logging": {"format": "json"},
            "metrics": {"listen": "127.0.0.1:0"},
        },
    )


def _base_url(worker: Worker) -> str:
    found: list[str] = []

    def listening() -> bool:
        match = LISTENING.search(worker.output())
        if match:
            found.append(f"http://{match.group(1)}:{match.group(2)}")
        assert worker.alive(), worker.output()[-3000:]
        return bool(match)

    wait_until(listening, seconds=30, what="the metrics server")
    return found[0]


def _scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, _, text = get(base + "/metrics")
    assert status == 200
    return samples(text)


def test_a_running_worker_serves_metrics_health_and_json_logs(tmp_path, worker_factory, db_engine_for) -> None:
    db_url = f"sqlite:///{tmp_path}/ventanilla.db"
    config = _config(tmp_path, db_url)
    engine = db_engine_for(db_url)
    mails = backlog(6, reply_every=100)
    for mail in mails:
        deliver_to_maildir(tmp_path / "maildir", mail["raw"])
    worker = worker_factory(config, tmp_path)
    base = _base_url(worker)
    wait_until(lambda: count_rows(engine, Ticket) == len(mails), seconds=30, what="the tickets")
    wait_until(lambda: json.loads(get(base + "/healthz")[2]) == {"status": "ok"}, seconds=15, what="healthy")

    got = _scrape(base)
    assert got[("ventanilla_received_messages", (("status", "ticketed"),))] == len(mails)
    assert got[("ventanilla_processed_messages_total", (("action", "ticketed"),))] == len(mails)
    assert got[("ventanilla_processing_seconds_count", ())] >= 1
    assert got[("ventanilla_spool_depth", ())] == 0 and got[("ventanilla_healthy", ())] == 1

    shown = ventanilla("--config", config, "status", "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    facts = json.loads(shown.stdout)
    assert facts["health"] == {"status": "ok"} and facts["tickets"] == {"open": len(mails)}
    assert facts["mailbox"]["reader"]  # the worker holds the mailbox

    assert worker.terminate(timeout=15) == 0
    err = worker.err.read_text()
    lines = [json.loads(line) for line in err.splitlines()]  # every line one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    decisions = [line for line in lines if line.get("action") == "ticketed"]
    assert len(decisions) == len(mails)
    assert all(d["mailbox"] == "support" and d["message_id"] and d["ticket"] for d in decisions)
    assert any(line.get("action") == "metrics-listening" for line in lines)

    # The worker is gone: nobody reads the mailbox any more (moved back in time, not waited for).
    with unit_of_work(engine) as session:
        state = session.get(MailboxState, "support")
        assert state is not None and state.polled_at is not None
        session.execute(update(MailboxState).values(polled_at=state.polled_at - timedelta(minutes=10)))
    shown = ventanilla("--config", config, "status", cwd=tmp_path)
    assert shown.returncode == 1
    assert "UNHEALTHY: mailbox support: last read 6" in shown.stdout  # 600 s and some
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())


@pytest.mark.postgres
def test_two_workers_report_the_same_database_truth(tmp_path, worker_factory, db_engine_for, postgres_ok) -> None:
    if not postgres_ok:
        pytest.skip("PostgreSQL not reachable")
    from tests.dbhelpers import pg_schema

    with pg_schema("obs") as db_url:
        config = _config(tmp_path, db_url)
        engine = db_engine_for(db_url)
        ventanilla("--config", config, "init", cwd=tmp_path)
        first, second = worker_factory(config, tmp_path), worker_factory(config, tmp_path)
        bases = [_base_url(first), _base_url(second)]
        assert bases[0] != bases[1]
        for mail in backlog(8, reply_every=100):
            deliver_to_maildir(tmp_path / "maildir", mail["raw"])
        wait_until(
            lambda: count_rows(engine, Receipt) == 8 and count_rows(engine, Ticket) == 8, seconds=30, what="the tickets"
        )
        scrapes = [_scrape(base) for base in bases]
        for key in (
            ("ventanilla_received_messages", (("status", "ticketed"),)),
            ("ventanilla_tickets", (("status", "open"),)),
            ("ventanilla_mailbox_last_poll_timestamp_seconds", (("mailbox", "support"),)),
        ):
            assert scrapes[0][key] == pytest.approx(scrapes[1][key], abs=5), key
        assert scrapes[0][("ventanilla_received_messages", (("status", "ticketed"),))] == 8
        # What each one did itself is its own: together they processed every message once.
        done = sum(s.get(("ventanilla_processed_messages_total", (("action", "ticketed"),)), 0) for s in scrapes)
        assert done == 8
        assert first.terminate(timeout=15) == 0 and second.terminate(timeout=15) == 0


def test_a_mailbox_that_cannot_be_reached_is_counted_and_unhealthy(tmp_path, worker_factory) -> None:
    class Closed:
        port, user, password = unused_port(), "nobody", "x"

    config = _config(tmp_path, f"sqlite:///{tmp_path}/ventanilla.db", **imap_section(Closed(), poll_seconds=0.5))  # type: ignore[arg-type]
    worker = worker_factory(config, tmp_path)
    base = _base_url(worker)
    wait_until(
        lambda: _scrape(base)[("ventanilla_mailbox_errors_total", (("kind", "unavailable"),))] >= 1,
        seconds=20,
        what="the connection failure counted",
    )
    status, kind, body = get(base + "/healthz")
    assert (status, kind) == (503, "application/json")
    assert json.loads(body) == {"status": "unhealthy", "reason": "mailbox support: never read successfully"}
    assert worker.terminate(timeout=15) == 0


def test_a_metrics_port_in_use_stops_the_start_in_one_line(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = _config(tmp_path, f"sqlite:///{tmp_path}/ventanilla.db")
        text = config.read_text().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
        config.write_text(text)
        done = ventanilla("--config", config, "run", cwd=tmp_path, timeout=30)
    assert done.returncode == 78, done.stderr[-2000:]
    assert f"error: metrics.listen: cannot listen on 127.0.0.1:{port}: " in done.stderr
    assert "Traceback" not in done.stderr


@SQLITE_ONLY
def test_status_on_a_fresh_database_and_on_one_that_does_not_answer(tmp_path, any_db_url) -> None:
    config = _config(tmp_path, any_db_url)
    assert ventanilla("--config", config, "init", cwd=tmp_path).returncode == 0
    never = ventanilla("--config", config, "status", cwd=tmp_path)
    assert never.returncode == 1 and "UNHEALTHY: mailbox support: never read successfully" in never.stdout
    assert ventanilla("--config", config, "run", "--once", cwd=tmp_path).returncode == 0  # reads the Maildir
    fine = ventanilla("--config", config, "status", cwd=tmp_path)
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert re.search(r"^health +ok$", fine.stdout, re.MULTILINE)
    assert re.search(r"^status +at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T \(Europe/Madrid\)$", fine.stdout, re.MULTILINE)

    dead = write_config(
        tmp_path / "dead.toml", {"database": {"url": f"postgresql://postgres@127.0.0.1:{unused_port()}/x"}}
    )
    down = ventanilla("--config", dead, "status", "--json", cwd=tmp_path)
    assert down.returncode == 1 and "Traceback" not in down.stderr
    assert json.loads(down.stdout)["health"]["status"] == "unhealthy"
    assert down.stderr.strip().startswith("unhealthy: database: ") and len(down.stderr.strip().splitlines()) == 1
