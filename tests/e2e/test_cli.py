"""The `ventanilla` command line as an operator and an MTA use it: real subprocesses, real files."""

import json
import os
import socket
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.e2e.conftest import clean_env, ventanilla, write_config
from tests.integration.smtp_sink import unused_port
from tests.mailgen import message

SENDER = "marta.gil@correo.example"


def _config(tmp_path: Path, db_url: str | None = None) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url or f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )


def _mail(
    index: int = 1, subject: str = "No puedo descargar mi certificado", sender: str = SENDER
) -> tuple[str, bytes]:
    return message(
        index=index,
        sender=sender,
        subject=subject,
        body="Al descargar el certificado me dice que el código de solicitud no es válido.",
        when=datetime.now(UTC) - timedelta(minutes=5),
    )


def _tickets(config: Path, cwd: Path) -> list[dict]:
    listed = ventanilla("--config", config, "tickets", "list", "--json", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- configuration --------------------------------------------------------------------


def test_init_creates_the_database(any_db_url, tmp_path) -> None:
    config = _config(tmp_path, any_db_url)
    result = ventanilla("--config", config, "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database ready" in result.stdout + result.stderr
    assert (tmp_path / "maildir" / "new").is_dir()
    # The schema is there: listing tickets works and finds none.
    assert _tickets(config, tmp_path) == []
    if any_db_url.startswith("sqlite"):
        with sqlite3.connect(tmp_path / "ventanilla.db") as conn:
            tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
        assert {"ticket", "message", "receipt", "outbox", "alembic_version"} <= tables
    # Running it again is an upgrade of an up-to-date database: still fine.
    assert ventanilla("--config", config, "init", cwd=tmp_path).returncode == 0


def test_init_makes_the_maildirs_parents_and_a_folder_it_cannot_make_is_one_line(tmp_path) -> None:
    deep = tmp_path / "var" / "mail" / "support"  # none of these exist yet
    database = {"url": f"sqlite:///{tmp_path}/ventanilla.db"}
    config = write_config(
        tmp_path / "deep.toml", {"database": database, "inbox": {"kind": "maildir", "path": str(deep)}}
    )
    result = ventanilla("--config", config, "init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (deep / "new").is_dir()
    (tmp_path / "file").write_text("not a folder")
    inbox = {"kind": "maildir", "path": str(tmp_path / "file" / "maildir")}
    bad = write_config(tmp_path / "bad.toml", {"database": database, "inbox": inbox})
    result = ventanilla("--config", bad, "init", cwd=tmp_path)
    assert result.returncode == 74 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert str(tmp_path / "file") in result.stderr.strip().splitlines()[-1]


def test_no_config_at_all_uses_the_embedded_default_and_says_so_first(tmp_path) -> None:
    result = ventanilla("init", cwd=tmp_path, env=clean_env())
    assert result.returncode == 0, result.stderr
    first = _lines(result.stderr)[0]
    assert "INFO" in first and "no configuration given" in first and "embedded default" in first, result.stderr
    assert (tmp_path / "var" / "ventanilla.db").is_file()
    assert (tmp_path / "var" / "maildir" / "new").is_dir()


def test_logs_go_to_stderr_and_stdout_stays_for_data(tmp_path) -> None:
    result = ventanilla("init", cwd=tmp_path, env=clean_env())
    assert result.returncode == 0
    assert "no configuration given" in result.stderr
    assert "no configuration given" not in result.stdout


def test_unknown_key_is_a_one_line_error_naming_it(tmp_path) -> None:
    (tmp_path / "bad.toml").write_text('[inbox]\nhots = "x"\n', encoding="utf-8")
    result = ventanilla("--config", "bad.toml", "init", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = _lines(result.stderr + result.stdout)
    assert len(lines) == 1 and "inbox.hots" in lines[0], result.stderr
    assert not (tmp_path / "var").exists(), "nothing may be created with an invalid config"


def test_a_configuration_error_stops_the_worker_with_ex_config_and_the_mta_pipe_with_tempfail(tmp_path) -> None:
    (tmp_path / "bad.toml").write_text('[inbox]\nhots = "x"\n', encoding="utf-8")
    worker = ventanilla("--config", "bad.toml", "run", cwd=tmp_path)
    assert worker.returncode == 78, worker.stderr  # EX_CONFIG: the one reason the worker stops by itself
    assert len(_lines(worker.stderr)) == 1 and "inbox.hots" in worker.stderr
    _, raw = _mail()
    piped = ventanilla("--config", "bad.toml", "deliver", cwd=tmp_path, stdin=raw)
    assert piped.returncode == 75, piped.stderr  # a bad setting is not a bad message: the MTA keeps it
    assert "Traceback" not in piped.stderr


def test_bad_environment_value_is_an_error_naming_the_key(tmp_path) -> None:
    result = ventanilla("init", cwd=tmp_path, env=clean_env(VENTANILLA_INBOX__PORT="notanumber"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "inbox.port" in result.stderr
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("case", ["unknown-key-in-absolute-path", "env-port"])
def test_config_errors_stay_on_one_line_however_long(case, tmp_path) -> None:
    if case == "env-port":
        result = ventanilla("init", cwd=tmp_path, env=clean_env(VENTANILLA_INBOX__PORT="notanumber"))
        key = "inbox.port"
    else:
        deep = tmp_path / "etc" / "ventanilla" / "production-configuration"
        deep.mkdir(parents=True)
        bad = deep / "ventanilla-helpdesk.toml"
        bad.write_text('[inbox]\nhots = "x"\n', encoding="utf-8")
        result = ventanilla("--config", bad, "init", cwd=tmp_path)
        key = "inbox.hots"
    assert result.returncode != 0
    lines = _lines(result.stderr)
    assert len(lines) == 1 and key in lines[0], result.stderr


def test_missing_config_file_is_named(tmp_path) -> None:
    result = ventanilla("--config", tmp_path / "nope.toml", "init", cwd=tmp_path)
    assert result.returncode != 0
    assert "nope.toml" in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_python_dash_m_help(tmp_path) -> None:
    result = ventanilla("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("init", "run", "deliver", "demo", "tickets"):
        assert command in result.stdout
    assert not (tmp_path / "var").exists(), "--help must not touch any database"


# -- the MTA pipe ---------------------------------------------------------------------


def test_deliver_commits_the_ticket_and_redelivery_makes_no_second(any_db_url, tmp_path) -> None:
    config = _config(tmp_path, any_db_url)
    msg_id, raw = _mail()
    first = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw)
    assert first.returncode == 0, first.stderr
    tickets = _tickets(config, tmp_path)
    assert len(tickets) == 1
    assert tickets[0]["requester"]["email"] == SENDER and tickets[0]["status"] == "open"
    # A normal ticket gets the default SLA: 24 h and 48 h after arrival (invariant 5).
    created = datetime.fromisoformat(tickets[0]["created_at"])
    assert datetime.fromisoformat(tickets[0]["response_due_at"]) == created + timedelta(hours=24)
    assert datetime.fromisoformat(tickets[0]["hard_due_at"]) == created + timedelta(hours=48)

    again = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw)
    assert again.returncode == 0, again.stderr
    assert len(_tickets(config, tmp_path)) == 1
    shown = json.loads(ventanilla("--config", config, "tickets", "show", "1", "--json", cwd=tmp_path).stdout)
    assert [m["message_id"] for m in shown["messages"] if m["direction"] == "in"] == [msg_id]


def test_deliver_exits_75_and_says_why_when_the_database_is_down(tmp_path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, raw = _mail()
    env = clean_env(VENTANILLA_DATABASE__URL=f"postgresql://postgres@127.0.0.1:{port}/none")
    started = time.monotonic()
    result = ventanilla("deliver", "--mailbox", "support", cwd=tmp_path, env=env, stdin=raw, timeout=60)
    assert result.returncode == 75, result.stderr
    said = " ".join(result.stderr.split())
    assert "cannot store the message" in said and "refused" in said.lower(), said
    assert time.monotonic() - started < 30


def test_deliver_with_an_unwritable_sqlite_path_exits_75(tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    _, raw = _mail()
    env = clean_env(VENTANILLA_DATABASE__URL=f"sqlite:///{blocker}/ventanilla.db")
    result = ventanilla("deliver", cwd=tmp_path, env=env, stdin=raw)
    assert result.returncode == 75, result.stderr


def test_tickets_show_json_has_the_stable_fields(tmp_path) -> None:
    config = _config(tmp_path)
    with config.open("a", encoding="utf-8") as handle:  # keyword rules are configuration
        handle.write(
            '[[helpdesk.categories]]\nname = "revocation"\nkeywords = ["revocar", "robado"]\npriority = "urgent"\n'
        )
    before = datetime.now(UTC)
    msg_id, raw = _mail(subject="Revocar certificado: me han robado el portátil")
    assert ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw).returncode == 0
    after = datetime.now(UTC)

    result = ventanilla("--config", config, "tickets", "show", "1", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for field in ("id", "status", "priority", "category", "requester", "subject", "created_at"):
        assert field in data, field
    assert data["id"] == 1 and data["status"] == "open"
    assert data["priority"] == "urgent" and data["category"] == "revocation"
    assert data["requester"]["email"] == SENDER
    assert data["subject"] == "Revocar certificado: me han robado el portátil"
    created = datetime.fromisoformat(data["created_at"])
    assert created.utcoffset() == timedelta(0), "datetimes are timezone-aware UTC"
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    # Both SLA due times run from arrival (the urgent targets are shorter than the 24/48 h default).
    response_due, hard_due = (datetime.fromisoformat(data[k]) for k in ("response_due_at", "hard_due_at"))
    assert response_due.utcoffset() == hard_due.utcoffset() == timedelta(0)
    assert created < response_due <= hard_due <= created + timedelta(hours=48)

    assert data["messages"], "the ticket shows its messages"
    for m in data["messages"]:
        assert {"direction", "kind", "from", "to", "subject", "message_id", "text", "time"} <= set(m), m
        assert datetime.fromisoformat(m["time"]).utcoffset() == timedelta(0)
    inbound = [m for m in data["messages"] if m["direction"] == "in"]
    assert len(inbound) == 1
    first = inbound[0]
    assert first["kind"] == "user" and first["from"] == SENDER and first["message_id"] == msg_id
    assert first["to"] == ["soporte@ventanilla.example"]
    assert "código de solicitud no es válido" in first["text"]

    missing = ventanilla("--config", config, "tickets", "show", "99", "--json", cwd=tmp_path)
    assert missing.returncode != 0


def test_an_urgent_ticket_reopened_from_the_cli_is_due_in_4_and_8_hours(tmp_path) -> None:
    config = _config(tmp_path)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            '[helpdesk]\nagents = ["ana@ventanilla.example"]\n[[helpdesk.categories]]\nname = "revocation"\n'
            'keywords = ["revocar"]\npriority = "urgent"\n'
        )
    _, raw = _mail(subject="Revocar certificado: me han robado el portátil")
    assert ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw).returncode == 0
    agent = ("--agent", "ana@ventanilla.example")
    done = ventanilla("--config", config, "tickets", "resolve", "1", *agent, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before = datetime.now(UTC)
    done = ventanilla("--config", config, "tickets", "reopen", "1", *agent, "--text", "volvió a llamar", cwd=tmp_path)
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr
    (ticket,) = _tickets(config, tmp_path)
    response_due, hard_due = (datetime.fromisoformat(ticket[k]) for k in ("response_due_at", "hard_due_at"))
    assert (ticket["status"], ticket["priority"]) == ("open", "urgent")
    assert before + timedelta(hours=4) <= response_due <= after + timedelta(hours=4)
    assert hard_due - response_due == timedelta(hours=4)  # 8 h from the reopen


def test_quarantine_lists_a_message_without_from(tmp_path) -> None:
    config = _config(tmp_path)
    raw = (
        b"To: soporte@ventanilla.example\r\nSubject: sin remitente\r\nMessage-ID: <nofrom@x.example>\r\n"
        b"Date: Mon, 05 Oct 2026 09:00:00 +0000\r\n\r\nHola, no tengo From.\r\n"
    )
    result = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw)
    assert result.returncode == 0, result.stderr
    listed = ventanilla("--config", config, "tickets", "quarantine", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 1
    assert rows[0]["mailbox"] == "support" and rows[0]["size"] == len(raw)
    assert "from" in rows[0]["reason"].lower(), rows[0]
    assert _tickets(config, tmp_path) == []
    # The table view works too.
    table = ventanilla("--config", config, "tickets", "quarantine", cwd=tmp_path)
    assert table.returncode == 0 and "Quarantine (1)" in table.stdout


# -- run --once on a Maildir ------------------------------------------------------------


def _mta_drop(maildir: Path, raw: bytes, name: str) -> None:
    """What an MTA does: write into tmp/, then rename into new/."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    tmp = maildir / "tmp" / name
    tmp.write_bytes(raw)
    os.rename(tmp, maildir / "new" / name)


def test_run_once_on_maildir_ingests_new_mail_and_writes_the_acknowledgement(tmp_path) -> None:
    config = _config(tmp_path)
    maildir = tmp_path / "maildir"
    ids = []
    for i, subject in enumerate(["No puedo descargar mi certificado", "Cannot install my certificate"], start=1):
        msg_id, raw = _mail(index=i, subject=subject, sender=f"user{i}@correo.example")
        ids.append(msg_id)
        _mta_drop(maildir, raw, f"{int(time.time())}.M{i}P{os.getpid()}.mta-host")

    result = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    tickets = _tickets(config, tmp_path)
    assert sorted(t["requester"]["email"] for t in tickets) == ["user1@correo.example", "user2@correo.example"]
    assert list((maildir / "new").iterdir()) == [], "taken mail leaves new/"
    sent = sorted((tmp_path / "sent").glob("*.eml"))
    assert len(sent) == 2
    acks = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in sent]
    assert sorted(str(a["To"]) for a in acks) == sorted(f"user{i}@correo.example" for i in (1, 2)) or all(
        any(f"user{i}@correo.example" in str(a["To"]) for a in acks) for i in (1, 2)
    )
    assert {str(a["In-Reply-To"]) for a in acks} == set(ids)
    assert all(a["Auto-Submitted"] for a in acks), "our automatic mail says so (RFC 3834)"
    assert any(f"[#{t['id']}]" in str(a["Subject"]) for a in acks for t in tickets)

    # Nothing new: a second pass changes nothing and sends nothing.
    again = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(_tickets(config, tmp_path)) == 2 and len(list((tmp_path / "sent").glob("*.eml"))) == 2


def test_run_once_exits_75_when_the_mail_server_or_the_mailbox_is_down_and_loses_nothing(
    tmp_path, smtp_sink_factory
) -> None:
    # A cron job's `run --once` must not take "done" for granted: mail that waits is exit 75.
    port = unused_port()
    database = {"url": f"sqlite:///{tmp_path}/ventanilla.db"}
    outbound = {"kind": "smtp", "host": "127.0.0.1", "port": port, "security": "none", "timeout_seconds": 5}
    inbox = {"kind": "maildir", "path": str(tmp_path / "maildir")}
    config = write_config(tmp_path / "smtp.toml", {"database": database, "inbox": inbox, "outbound": outbound})
    _mta_drop(tmp_path / "maildir", _mail()[1], "1.M1.mta-host")
    down = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert down.returncode == 75 and "Traceback" not in down.stderr
    assert down.stderr.count("the mail server is unreachable") == 1
    assert len(_tickets(config, tmp_path)) == 1  # ticketed; its acknowledgement waits in the outbox
    sink = smtp_sink_factory(port=port)
    queued = ventanilla("--config", config, "outbox", "flush", cwd=tmp_path)  # not waiting for the backoff
    assert queued.returncode == 0, queued.stderr
    assert [m.rcpt_tos for m in sink.received] == [(SENDER,)]
    again = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert again.returncode == 0, again.stderr

    imap = {"kind": "imap", "host": "127.0.0.1", "port": unused_port(), "security": "none"}
    imap |= {"username": "u", "password": "p", "timeout_seconds": 5}
    nobody = write_config(tmp_path / "imap.toml", {"database": database, "inbox": imap, "outbound": outbound})
    result = ventanilla("--config", nobody, "run", "--once", cwd=tmp_path)
    assert result.returncode == 75 and "Traceback" not in result.stderr
    assert _lines(result.stderr)[-1].startswith("error: ") and "the mail waits in the mailbox" in result.stderr
