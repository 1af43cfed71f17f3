"""A4: the IMAP server goes away in the middle of the FETCH of a 20 MB literal (a restart, a
network cut). A real `ventanilla run` subprocess reads the private Dovecot through a TCP proxy that
cuts every connection after 5 MB of the reply. Nothing half-read is spooled, the message stays in
INBOX, the worker stays up, says what happened, and takes the whole message once the server is back."""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.e2e.conftest import count_rows, imap_section, wait_until, write_config
from tests.integration.tcp_proxy import tcp_proxy
from tests.mailgen import message
from tickets.db import read_only
from tickets.models import Receipt, Ticket

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
MB = 1024 * 1024


def _big_mail() -> bytes:
    _, raw = message(
        index=1,
        sender="ana.ruiz@correo.example",
        subject="Adjunto la captura del error al exportar",
        body="Adjunto el registro completo.\n" + ("0123456789abcdef" * 63 + "\n") * (20 * MB // 1024),
        when=datetime.now(UTC) - timedelta(minutes=1),
    )
    assert len(raw) > 20 * MB
    return raw.replace(b"\n", b"\r\n")  # as the server keeps it: the bytes it serves are these


def test_a4_server_gone_mid_literal_spools_nothing_partial_and_takes_it_whole_later(
    dovecot, db_engine_for, worker_factory, tmp_path
) -> None:
    url = f"sqlite:///{tmp_path}/ventanilla.db"
    engine = db_engine_for(url)
    raw = _big_mail()
    dovecot.append("INBOX", raw)
    with tcp_proxy("127.0.0.1", dovecot.port) as proxy:
        proxy.cut_after(5 * MB)
        inbox = imap_section(dovecot, port=proxy.port, idle=False, poll_seconds=1, timeout_seconds=10)
        config = write_config(
            tmp_path / "ventanilla.toml",
            {
                "database": {"url": url},
                "inbox": inbox,
                "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            },
        )
        worker = worker_factory(config, tmp_path)
        wait_until(lambda: not proxy.is_open(), seconds=60, what="the cut in the middle of the literal")
        assert worker.alive(), worker.output()[-3000:]
        assert not _db_ready(engine) or count_rows(engine, Receipt) == 0, "a half-read message was spooled"
        assert dovecot.uids("INBOX") != [], "the message left INBOX before it was spooled"

        proxy.restore()
        wait_until(lambda: _db_ready(engine) and count_rows(engine, Ticket) == 1, seconds=90, what="the ticket")
        assert worker.alive(), worker.output()[-3000:]
        assert worker.terminate(timeout=30) == 0
    with read_only(engine) as session:
        receipts = list(session.scalars(select(Receipt)))
    assert len(receipts) == 1 and receipts[0].raw_sha256 == hashlib.sha256(raw).hexdigest(), "not the whole bytes"
    assert receipts[0].size == len(raw) and receipts[0].status == "ticketed"
    assert dovecot.uids("INBOX") == []
    output = worker.output()
    assert "Traceback" not in output, output[-3000:]
    assert "fetch failed" in output and "working again" in output, "the worker did not say what happened"


def _db_ready(engine) -> bool:  # type: ignore[no-untyped-def]
    from tickets.errors import DatabaseUnavailableError

    try:
        count_rows(engine, Receipt)
    except DatabaseUnavailableError:
        return False
    return True
