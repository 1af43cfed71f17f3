"""`ventanilla erase` (right to erasure) and `ventanilla purge` (retention), end to end: what goes,
what stays, and the monthly report's figures the same before and after. Real CLI, real databases."""

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, select

from tests.e2e.attachment_mail import AGENT, PDF, config, deliver, mail_with, show
from tests.e2e.conftest import ventanilla
from tickets.db import read_only

PERSON = "marta.gil@correo.example"
OTHER = "pablo@correo.example"


def _ok(cfg: Path, cwd: Path, *args: Any, stdin: bytes | None = None) -> str:
    done = ventanilla("--config", cfg, *args, cwd=cwd, stdin=stdin)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _report(cfg: Path, cwd: Path) -> str:
    month = datetime.now(ZoneInfo("Europe/Madrid")).strftime("%Y-%m")
    return _ok(cfg, cwd, "report", "--month", month, "--format", "json")


def _cells_naming(engine: Any, needle: str) -> list[str]:
    """Every cell of every table (text and bytes alike) that holds `needle`, any case."""
    found = []
    meta = MetaData()
    meta.reflect(engine)
    with read_only(engine) as session:
        for table in meta.sorted_tables:
            for row in session.connection().execute(select(table)):
                for column, value in zip(table.columns, row, strict=True):
                    text = bytes(value).lower() if isinstance(value, bytes | memoryview) else str(value).lower()
                    hit = needle.encode() in text if isinstance(text, bytes) else needle in text
                    if hit:
                        found.append(f"{table.name}.{column.name}")
    return found


def _person_everywhere(cfg: Path, cwd: Path) -> None:
    """Marta writes with a PDF (ticket 1), is in copy of Pablo's mail with the same PDF (ticket 2),
    gets an answer (sent) and another (still queued), phones, and sends one mail that is quarantined."""
    deliver(cfg, cwd, mail_with(1, "Marta.Gil@Correo.Example", [("dni.pdf", "application/pdf", PDF)]))
    about = f"Escribo también por mi compañera {PERSON.upper()}."
    deliver(cfg, cwd, mail_with(2, OTHER, [("dni.pdf", "application/pdf", PDF)], cc=PERSON, text=about))
    _ok(cfg, cwd, "tickets", "reply", "1", "--agent", AGENT, "--text", "Puede descargarlo de nuevo.")
    _ok(cfg, cwd, "phone", "log", "--email", PERSON, "--agent", AGENT, "--ticket", "1", "--phone", "600123123",
        "--name", "Marta Gil", "--summary", "Llamó por su DNI")
    _ok(cfg, cwd, "outbox", "flush")
    _ok(cfg, cwd, "tickets", "reply", "1", "--agent", AGENT, "--text", "¿Pudo descargarlo?")
    two_senders = mail_with(3, PERSON, []).replace(b"From: Persona 3 <", b"From: x@y.example, Persona 3 <", 1)
    assert "quarantined" in deliver(cfg, cwd, two_senders)


def test_erasure_leaves_no_trace_of_the_address_and_the_report_the_same(any_db_url, tmp_path, db_engine_for) -> None:
    cfg = config(tmp_path, any_db_url)
    _person_everywhere(cfg, tmp_path)
    engine = db_engine_for(any_db_url)
    assert "ticket.requester_email" in _cells_naming(engine, PERSON)
    before = _report(cfg, tmp_path)

    declined = ventanilla("--config", cfg, "erase", "--email", PERSON, cwd=tmp_path, stdin=b"n\n")
    assert declined.returncode == 1 and "would remove" in declined.stdout and "raw messages" in declined.stdout, (
        declined.stderr
    )
    assert declined.stderr.strip().endswith("nothing erased"), declined.stderr
    assert show(cfg, tmp_path, 1)["requester"]["email"] == PERSON, "nothing changed"

    erased = ventanilla("--config", cfg, "erase", "--email", PERSON.upper(), "--yes", cwd=tmp_path)
    assert erased.returncode == 0, erased.stderr
    counts = {k.strip(): v for k, v in (line.rsplit(":", 1) for line in erased.stdout.splitlines()[1:])}
    assert int(counts["tickets"]) == 1 and int(counts["raw messages"]) >= 3 and int(counts["attachments"]) == 1
    assert int(counts["outgoing mails cancelled"]) == 1 and int(counts["calls"]) == 1

    assert _cells_naming(engine, PERSON) == [], "no copy of the address anywhere, raw bytes included"
    assert _cells_naming(engine, "600123123") == [] and _cells_naming(engine, "llamó por su dni") == []
    assert _report(cfg, tmp_path) == before, "the monthly figures are the same"
    one = show(cfg, tmp_path, 1)
    alias = one["requester"]["email"]
    assert alias.startswith("erased-") and alias.endswith("@invalid") and alias in erased.stdout
    assert one["status"] and one["category"] and all(m["text"] == "" for m in one["messages"])
    assert all(m["attachments"] == [] for m in one["messages"])
    two = show(cfg, tmp_path, 2)  # Pablo's ticket keeps his text and his copy of the PDF
    assert alias in two["messages"][0]["text"] and two["messages"][0]["attachments"][0]["filename"] == "dni.pdf"
    pdf = two["messages"][0]["attachments"][0]["id"]
    _ok(cfg, tmp_path, "tickets", "attachment", "2", str(pdf), "--out", tmp_path / "dni.pdf")
    assert (tmp_path / "dni.pdf").read_bytes() == PDF, "a file someone else still has stays"

    _ok(cfg, tmp_path, "tickets", "reply", "2", "--agent", AGENT, "--text", "Respondido.")
    relayed = [m for m in show(cfg, tmp_path, 2)["messages"] if m["kind"] == "agent_reply"]
    assert relayed[-1]["to"] == [OTHER], "the erased person is not mailed again"

    again = ventanilla("--config", cfg, "erase", "--email", PERSON, "--yes", cwd=tmp_path)
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1 and "no data" in again.stderr
    unknown = ventanilla("--config", cfg, "erase", "--email", "nadie@correo.example", cwd=tmp_path)
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    bad = ventanilla("--config", cfg, "erase", "--email", "not-an-address", cwd=tmp_path)
    assert bad.returncode == 2


def test_purge_removes_raw_mail_and_attachments_of_old_closed_tickets_only(any_db_url, tmp_path) -> None:
    cfg = config(tmp_path, any_db_url)
    deliver(cfg, tmp_path, mail_with(1, PERSON, [("dni.pdf", "application/pdf", PDF)]))
    deliver(cfg, tmp_path, mail_with(2, OTHER, [("otro.pdf", "application/pdf", PDF + b"2")]))
    _ok(cfg, tmp_path, "tickets", "close", "1", "--agent", AGENT, "--text", "Resuelto.")
    _ok(cfg, tmp_path, "outbox", "flush")
    before = _report(cfg, tmp_path)
    mail = {row["ticket_id"]: row["id"] for row in json.loads(_ok(cfg, tmp_path, "mail", "list", "--json"))}
    closed_file = show(cfg, tmp_path, 1)["messages"][0]["attachments"][0]["id"]
    today = datetime.now(ZoneInfo("Europe/Madrid")).date()

    nothing = _ok(cfg, tmp_path, "purge", "--before", today.isoformat(), "--yes")
    assert "raw messages: 0" in nothing, "closed today: not before today"
    tomorrow = str(today + timedelta(days=1))
    declined = ventanilla("--config", cfg, "purge", "--before", tomorrow, cwd=tmp_path, stdin=b"n\n")
    assert declined.returncode == 1 and "raw messages: 1" in declined.stdout, declined.stderr
    assert declined.stderr.strip().endswith("nothing purged"), declined.stderr
    purged = _ok(cfg, tmp_path, "purge", "--before", str(today + timedelta(days=1)), "--yes")
    assert "tickets: 1" in purged and "raw messages: 1" in purged and "attachments: 1" in purged, purged
    assert "attachment files: 1" in purged

    raw = ventanilla("--config", cfg, "mail", "show", str(mail[1]), "--raw", cwd=tmp_path)
    assert raw.returncode == 1 and "removed" in raw.stderr
    kept = ventanilla("--config", cfg, "mail", "show", str(mail[2]), "--raw", cwd=tmp_path)
    assert kept.returncode == 0 and "otro.pdf" in kept.stdout, "an open ticket keeps its bytes"
    gone = ventanilla("--config", cfg, "tickets", "attachment", "1", str(closed_file), "--out", "x.pdf", cwd=tmp_path)
    assert gone.returncode == 2, "its attachment rows went with the bytes"
    one = show(cfg, tmp_path, 1)
    assert one["status"] == "closed" and one["messages"][0]["text"], "the ticket and its texts stay"
    assert "purged" in [e["kind"] for e in one["events"]]
    assert _report(cfg, tmp_path) == before
    assert "raw messages: 0" in _ok(cfg, tmp_path, "purge", "--before", str(today + timedelta(days=1)), "--yes")
    bad = ventanilla("--config", cfg, "purge", "--before", "2026-13-01", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
