"""G59: a slow IMAP server and a slow SMTP relay at once. A real `ventanilla run` reads the private
Dovecot through a proxy that holds every chunk 50 ms, and the SMTP sink takes 5 s to answer the
first acknowledgement's DATA. New mail is still ticketed while an acknowledgement hangs in
the relay: the sender never holds up the intake. Every acknowledgement is then sent once."""

import time

import pytest

from tests.e2e.conftest import count_rows, imap_section, wait_until, write_config
from tests.integration.smtp_sink import SmtpSink
from tests.integration.tcp_proxy import tcp_proxy
from tests.mailgen import question
from tickets.models import Ticket

pytestmark = pytest.mark.timeout(150)
STALL = 5.0


def _mail(index: int) -> bytes:
    subject = f"No me deja exportar el certificado ({index})"
    return question(index, subject, "Al exportar desde el navegador me pide una contraseña que no conozco.")[1]


def test_g59_slow_imap_and_slow_smtp_do_not_stall_the_intake(
    dovecot, db_engine_for, worker_factory, smtp_sink: SmtpSink, tmp_path
) -> None:
    url = f"sqlite:///{tmp_path}/ventanilla.db"
    engine = db_engine_for(url)
    smtp_sink.script("data", f"wait {STALL}")
    with tcp_proxy("127.0.0.1", dovecot.port) as proxy:
        proxy.delay = 0.05
        config = write_config(
            tmp_path / "ventanilla.toml",
            {
                "database": {"url": url},
                "inbox": imap_section(dovecot, port=proxy.port, idle=True, poll_seconds=1),
                "outbound": {
                    "kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none",
                    "timeout_seconds": 30,
                },
                "helpdesk": {"agents": []},
            },
        )
        worker = worker_factory(config, tmp_path)
        dovecot.append("INBOX", _mail(1))
        wait_until(lambda: count_rows(engine, Ticket) == 1, seconds=30, what="the first ticket")
        wait_until(lambda: smtp_sink.connections > 0, seconds=10, what="the first ack in the relay")
        appended = time.monotonic()
        dovecot.append("INBOX", _mail(2))
        dovecot.append("INBOX", _mail(3))
        took = wait_until(lambda: count_rows(engine, Ticket) == 3, seconds=20, what="tickets while SMTP hangs")
        print(f"two new tickets {took:.1f} s after their arrival, the relay stalling {STALL} s on the first ack")
        assert smtp_sink.received == [], "the first ack should still hang in the relay"
        assert time.monotonic() - appended < STALL
        wait_until(lambda: len(smtp_sink.received) == 3, seconds=60, what="every ack sent")
        time.sleep(1.0)
        assert worker.alive() and worker.terminate(timeout=30) == 0, worker.output()[-3000:]
    assert sorted(r for m in smtp_sink.received for r in m.rcpt_tos) == [f"user{i}@correo.example" for i in (1, 2, 3)]
