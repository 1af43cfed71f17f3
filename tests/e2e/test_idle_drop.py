"""A15: the connection drops silently while the worker waits in IDLE (a NAT or firewall forgets
it: no FIN, no RST, nothing). A real `ventanilla run` subprocess talks to the private Dovecot
through a TCP proxy that then freezes that connection; the worker must notice within its
`inbox.timeout_seconds`, connect again and take the mail that came meanwhile."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import count_rows, imap_section, wait_until, write_config
from tests.integration.tcp_proxy import tcp_proxy
from tests.mailgen import message
from tickets.models import Ticket

pytestmark = pytest.mark.timeout(120)
TIMEOUT = 2.0


def _mail(index: int) -> bytes:
    return message(
        index=index,
        sender=f"user{index}@correo.example",
        subject=f"Renovar certificado que caduca ({index})",
        body="Mi certificado caduca pronto, ¿cómo lo renuevo por internet?",
        when=datetime.now(UTC) - timedelta(minutes=1),
    )[1]


def test_a15_a_silent_drop_during_idle_is_noticed_within_the_timeout_and_new_mail_is_taken(
    dovecot, db_engine_for, worker_factory, tmp_path
) -> None:
    url = f"sqlite:///{tmp_path}/ventanilla.db"
    engine = db_engine_for(url)
    dovecot.append("INBOX", _mail(1))
    with tcp_proxy("127.0.0.1", dovecot.port) as proxy:
        # IDLE would end only after a minute: noticing sooner is the worker's own doing.
        inbox = imap_section(
            dovecot, port=proxy.port, idle=True, idle_seconds=60, poll_seconds=60, timeout_seconds=TIMEOUT
        )
        config = write_config(
            tmp_path / "ventanilla.toml",
            {"database": {"url": url}, "inbox": inbox, "outbound": {"kind": "file", "path": str(tmp_path / "sent")}},
        )
        worker = worker_factory(config, tmp_path)
        wait_until(lambda: count_rows(engine, Ticket) == 1, seconds=30, what="the first message ticketed")
        wait_until(lambda: dovecot.uids("INBOX") == [], seconds=10, what="the first message moved")
        time.sleep(1.0)  # the worker is back in IDLE within milliseconds of its pass

        proxy.freeze()
        dovecot.append("INBOX", _mail(2))  # straight to the server: the worker's connection hears nothing

        took = wait_until(
            lambda: count_rows(engine, Ticket) == 2 or not worker.alive(), seconds=5 * TIMEOUT + 5, what="new mail"
        )
        assert worker.alive(), worker.output()[-3000:]
        assert count_rows(engine, Ticket) == 2
        assert dovecot.uids("INBOX") == []
        print(f"new mail taken {took:.1f} s after the connection went silent")
        assert "idle failed" in worker.output(), "the worker said what happened"
