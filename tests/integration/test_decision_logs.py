"""I6: each decision on a message is one log line carrying its fields (caplog), and with
`[logging] format = "json"` every line the CLI writes is a JSON object with them (a subprocess)."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import InboxSettings
from mailer.maildir import deliver_to_maildir
from tests.e2e.conftest import ventanilla, write_config
from tests.mailgen import message
from tickets.values import ReceiptKey
from ventanilla.app import App
from ventanilla.wiring import make_ingestor

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def _mail(index: int, sender: str, subject: str, **extra: str) -> tuple[str, bytes]:
    return message(index=index, sender=sender, subject=subject, body="¿Cómo renuevo mi certificado?", when=NOW,
                   extra=extra or None)


@pytest.mark.parametrize(
    ("mail", "action"),
    [
        (_mail(1, "ana@correo.example", "Renovar certificado"), "ticketed"),
        (_mail(2, "luis@correo.example", "Fuera de la oficina", **{"Auto-Submitted": "auto-replied"}), "ignored"),
        # A stranger naming someone else's ticket: kept out, which is part of the same decision.
        (_mail(3, "eva@correo.example", "Re: [#1] Renovar certificado"), "ticketed"),
    ],
)
def test_processing_a_message_logs_exactly_one_line_with_its_fields(
    make_settings, db_url, engine, clock, caplog, tmp_path, mail, action
) -> None:
    settings = make_settings(db_url=db_url, inbox=InboxSettings(kind="maildir", path=str(tmp_path), parse_processes=0))
    ingestor = make_ingestor(App(settings, engine, clock))
    try:
        first = ingestor.process(ReceiptKey(mailbox="support", uidvalidity=1, uid=1), _mail(9, "x@y.example", "A")[1],
                                 clock.now())
        assert first.ticket_id == 1
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        message_id, raw = mail
        result = ingestor.process(ReceiptKey(mailbox="support", uidvalidity=1, uid=7), raw, clock.now())
    finally:
        ingestor.close()

    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    (line,) = lines
    fields = (line.action, line.ticket, line.mailbox, line.uid, line.message_id)  # type: ignore[attr-defined]
    assert fields == (action, result.ticket_id, "support", 7, message_id)
    assert result.action == action


def test_json_log_format_writes_one_json_object_per_line_with_the_decisions_fields(tmp_path: Path) -> None:
    inbox = tmp_path / "maildir"
    message_id, raw = _mail(1, "ana@correo.example", "Renovar certificado")
    deliver_to_maildir(inbox, raw)
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(inbox), "parse_processes": 0},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "logging": {"format": "json"},
        },
    )

    done = ventanilla("--config", config, "run", "--once", cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line: a JSON object
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(datetime.fromisoformat(line["time"]).utcoffset() == UTC.utcoffset(None) for line in lines)
    (decision,) = [line for line in lines if line.get("action") == "ticketed"]
    assert decision["ticket"] == 1 and decision["mailbox"] == "support" and decision["message_id"] == message_id
    assert decision["level"] == "INFO" and decision["logger"] == "ventanilla.pipeline.process"
    assert isinstance(decision["uid"], int)
