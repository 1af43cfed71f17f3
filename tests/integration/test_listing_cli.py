"""Finding tickets from the CLI (issue 13): `tickets list` filters, search and 'N of M shown';
`tickets show` with the customer history and one line per notification; `outbox list` and
`sla status` without silent caps; every table one row per line at 80 columns; the zone named.
On SQLite and PostgreSQL, the CLI run in-process (typer's runner, COLUMNS=80) to stay fast;
tests/e2e/test_listing_init.py runs it as a subprocess."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from typer.testing import CliRunner

from tests.e2e.conftest import write_config
from tests.mailgen import message
from ventanilla.cli import app

RUNNER = CliRunner(env={"COLUMNS": "80"})


def ventanilla(*args: object, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in this process, as `ventanilla ARGS` would run it at 80 columns."""
    del cwd  # every path is absolute
    result = RUNNER.invoke(app, [str(a) for a in args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

ANA = "ana.garcia.fernandez@correo-largo.example"
LUIS = "luis@correo.example"
AGENTS = ["agente.uno@ventanilla.example", "agente.dos@ventanilla.example"]
LONG = "Mi certificado de firma caducado no me deja presentar la declaración de la renta"


def _config(tmp_path: Path, db_url: str) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "parse_processes": 0},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "calendar": {"timezone": "Europe/Madrid"},
            "helpdesk": {"agents": AGENTS},
        },
    )


def _deliver(config: Path, cwd: Path, index: int, sender: str, subject: str, body: str) -> None:
    _, raw = message(index=index, sender=sender, subject=subject, body=body, when=datetime.now(UTC))
    done = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=cwd, stdin=raw)
    assert done.returncode == 0, done.stderr


def _desk(tmp_path: Path, db_url: str) -> Path:
    """Three tickets: Ana's two (the second about an expired certificate) and Luis's one."""
    config = _config(tmp_path, db_url)
    _deliver(config, tmp_path, 1, ANA, "Renovación de la tarjeta", "Quiero renovar mi tarjeta.")
    _deliver(config, tmp_path, 2, ANA, LONG, "Tengo los certificados caducados desde ayer y no puedo firmar.")
    _deliver(config, tmp_path, 3, LUIS, "Olvidé mi PIN", "No recuerdo el PIN de la tarjeta.")
    return config


def _ids(config: Path, cwd: Path, *args: str) -> list[int]:
    listed = ventanilla("--config", config, "tickets", "list", "--json", *args, cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    return [t["id"] for t in json.loads(listed.stdout)]


def assert_fits(output: str, rows: int) -> None:
    """Every line within 80 columns, and one table line per row (plus the header's)."""
    lines = output.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
    assert sum(1 for line in lines if line.startswith("│")) == rows + 1, output


def test_tickets_list_filters_searches_and_says_how_many(db_url, tmp_path) -> None:
    config = _desk(tmp_path, db_url)
    assert _ids(config, tmp_path) == [3, 2, 1], "newest first"
    assert _ids(config, tmp_path, "--limit", "2") == [3, 2], "the JSON stays a list, cut by --limit"
    assert _ids(config, tmp_path, "--requester", ANA.upper()) == [2, 1]
    assert _ids(config, tmp_path, "--search", "certificados caducados") == [2]
    assert _ids(config, tmp_path, "--search", "renovacion tarjeta") == [1]
    assert _ids(config, tmp_path, "--search", "tarjeta", "--requester", LUIS) == [3]
    assert _ids(config, tmp_path, "--status", "closed") == [] and _ids(config, tmp_path, "--priority", "normal")
    today = datetime.now(UTC).astimezone().date()
    tomorrow = (today + timedelta(days=2)).isoformat()
    assert _ids(config, tmp_path, "--since", tomorrow) == [] and len(_ids(config, tmp_path, "--until", tomorrow)) == 3

    table = ventanilla("--config", config, "tickets", "list", "--limit", "2", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "2 of 3 shown (--limit 0 for all)" in table.stdout and "Europe/Madrid" in table.stdout
    assert_fits(table.stdout, rows=2)
    assert "…" in table.stdout, "the long subject is cut, not wrapped"
    every = ventanilla("--config", config, "tickets", "list", "--limit", "0", cwd=tmp_path)
    assert "3 of 3 shown" in every.stdout and "--limit 0" not in every.stdout

    for option, valid in (("--status", "escalated"), ("--priority", "urgent")):
        bad = ventanilla("--config", config, "tickets", "list", option, "lost", cwd=tmp_path)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert valid in bad.stderr and "Traceback" not in bad.stderr
    bad = ventanilla("--config", config, "tickets", "list", "--since", "ayer", cwd=tmp_path)
    assert bad.returncode == 2 and "--since" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_tickets_show_has_the_customer_history_and_each_notification_once(db_url, tmp_path) -> None:
    config = _desk(tmp_path, db_url)
    data = json.loads(ventanilla("--config", config, "tickets", "show", "2", "--json", cwd=tmp_path).stdout)
    assert [(h["id"], h["subject"], h["status"]) for h in data["history"]] == [(1, "Renovación de la tarjeta", "open")]
    assert datetime.fromisoformat(data["history"][0]["created_at"]).utcoffset() is not None
    notified = [m for m in data["messages"] if m["kind"] == "agent_notification"]
    assert sorted(a for m in notified for a in m["to"]) == sorted(AGENTS), "JSON keeps every message"

    shown = ventanilla("--config", config, "tickets", "show", "2", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Earlier tickets of" in out and "#1 " in out and "Renovación de la tarjeta" in out
    assert out.count("agent_notification") == 1 and all(agent in out for agent in AGENTS), out
    assert "[bold]" not in out and "[/" not in out, "no markup printed literally"
    assert "CET" in out or "CEST" in out, "times in the service's zone, named"
    first = json.loads(ventanilla("--config", config, "tickets", "show", "1", "--json", cwd=tmp_path).stdout)
    assert first["history"] == []

    assert ventanilla("--config", config, "outbox", "flush", cwd=tmp_path).returncode == 0
    sent = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (tmp_path / "sent").glob("*.eml")]
    to_agents = [m for m in sent if AGENTS[0] in str(m["To"]) and LONG[:20] in str(m["Subject"])]
    texts = [m.get_body(("plain",)).get_content() for m in to_agents]  # type: ignore[union-attr]
    assert texts and all("[#1] " in t and "abierta: Renovación de la tarjeta" in t for t in texts), texts


def test_outbox_and_sla_status_say_how_many_and_fit_80_columns(db_url, tmp_path) -> None:
    config = _desk(tmp_path, db_url)
    everything = ventanilla("--config", config, "outbox", "list", "--json", "--limit", "0", cwd=tmp_path)
    total = len(json.loads(everything.stdout))
    assert total >= 9, "an ack and two notifications per ticket"
    listed = ventanilla("--config", config, "outbox", "list", "--limit", "4", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"4 of {total} shown (--limit 0 for all)" in listed.stdout and "Europe/Madrid" in listed.stdout
    assert_fits(listed.stdout, rows=4)
    assert len(json.loads(ventanilla("--config", config, "outbox", "list", "--json", cwd=tmp_path).stdout)) == total
    bad = ventanilla("--config", config, "outbox", "list", "--status", "lost", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "queued" in bad.stderr

    later = (datetime.now(UTC) + timedelta(hours=30)).isoformat()
    status = ventanilla("--config", config, "sla", "status", "--now", later, "--limit", "2", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "2 of 3 shown" in status.stdout and "Europe/Madrid" in status.stdout
    assert_fits(status.stdout, rows=2)
    rows = json.loads(ventanilla("--config", config, "sla", "status", "--now", later, "--json", cwd=tmp_path).stdout)
    assert len(rows) == 3


def test_quarantine_shows_sender_subject_and_message_id(db_url, tmp_path) -> None:
    config = _config(tmp_path, db_url)
    raw = (
        b"From: a@x.example, b@x.example\r\nTo: soporte@ventanilla.example\r\nSubject: dos remitentes [bold]\r\n"
        b"Message-ID: <two-from@x.example>\r\n\r\nHola.\r\n"
    )
    assert ventanilla("--config", config, "deliver", cwd=tmp_path, stdin=raw).returncode == 0
    rows = json.loads(ventanilla("--config", config, "tickets", "quarantine", "--json", cwd=tmp_path).stdout)
    assert rows[0]["subject"] == "dos remitentes [bold]" and rows[0]["message_id"] == "<two-from@x.example>"
    table = ventanilla("--config", config, "tickets", "quarantine", cwd=tmp_path)
    assert "Quarantine (1)" in table.stdout and "subject: dos remitentes [bold]" in table.stdout
    assert "Message-ID: <two-from@x.example>" in table.stdout
    assert all(len(line) <= 80 for line in table.stdout.splitlines())


