"""`ventanilla mail list|show|release`: the operator's mail log over the spool (issue 13, first part)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import clean_env, ventanilla, write_config
from tests.e2e.test_spool import _mail

NO_FROM = (
    b"To: soporte@ventanilla.example\r\nSubject: =?utf-8?q?Sin_remitente_=C3=B1?=\r\n"
    b"Message-ID: <nofrom@x.example>\r\n\r\nHola.\r\n"
)


def _config(tmp_path: Path, db_url: str) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "parse_processes": 0},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "calendar": {"timezone": "Europe/Madrid"},
        },
    )


def test_every_received_message_is_listed_shown_and_kept_byte_for_byte(any_db_url, tmp_path) -> None:
    config = _config(tmp_path, any_db_url)
    raws = [_mail(1)[1], _mail(2)[1], NO_FROM]
    for raw in raws:
        assert ventanilla("--config", config, "deliver", cwd=tmp_path, stdin=raw).returncode == 0

    listed = ventanilla("--config", config, "mail", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["quarantined", "ticketed", "ticketed"]  # newest first
    fields = {
        "id",
        "mailbox",
        "uid",
        "status",
        "reason",
        "from",
        "from_name",
        "subject",
        "message_id",
        "arrived_at",
        "size",
        "ticket_id",
        "attempts",
    }
    assert all(set(r) == fields for r in rows)
    quarantined, second = rows[0], rows[1]
    assert (
        quarantined["subject"] == "Sin remitente ñ" and quarantined["from"] == "" and quarantined["ticket_id"] is None
    )
    assert second["from"] == "user2@correo.example" and second["from_name"] == "Usuario 2"
    assert second["arrived_at"].endswith(("+01:00", "+02:00")), "the service's time zone"
    assert second["size"] == len(raws[1]) and isinstance(second["ticket_id"], int)

    by_sender = ventanilla("--config", config, "mail", "list", "--from", "USER1@correo.example", "--json", cwd=tmp_path)
    assert [r["from"] for r in json.loads(by_sender.stdout)] == ["user1@correo.example"]
    only = ventanilla("--config", config, "mail", "list", "--status", "quarantined", "--limit", "1", cwd=tmp_path)
    assert "1 of 1 shown" in only.stdout and all(len(line) <= 80 for line in only.stdout.splitlines())
    capped = ventanilla("--config", config, "mail", "list", "--limit", "2", cwd=tmp_path)
    assert "2 of 3 shown (--limit 0 for all)" in capped.stdout, capped.stdout
    bad = ventanilla("--config", config, "mail", "list", "--status", "lost", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "quarantined" in bad.stderr

    copy = tmp_path / "copy.eml"  # `mail show ID --raw > copy.eml`
    with copy.open("wb") as handle:
        command = [sys.executable, "-m", "ventanilla", "--config", str(config), "mail", "show", str(quarantined["id"])]
        subprocess.run([*command, "--raw"], cwd=tmp_path, env=clean_env(), stdout=handle, check=True, timeout=60)
    assert copy.read_bytes() == NO_FROM, "the exact bytes received"
    shown = json.loads(ventanilla("--config", config, "mail", "show", str(second["id"]), "--json", cwd=tmp_path).stdout)
    assert "created" in [e["kind"] for e in shown["events"]], shown

    refused = ventanilla("--config", config, "mail", "release", str(second["id"]), cwd=tmp_path)
    assert refused.returncode == 1 and "not released: it is ticketed" in refused.stderr
    again = ventanilla("--config", config, "mail", "release", str(quarantined["id"]), cwd=tmp_path)
    assert again.returncode == 0 and f"{quarantined['id']}: released: quarantined" in again.stdout, again.stdout
