"""SIGHUP re-reads the FAQ of a running worker (`ventanilla run`): its acknowledgements and its web
form's /faq/suggest use the new entries at once; a bad file keeps the entries in use."""

import os
import signal
from pathlib import Path

import httpx2 as httpx
import pytest

from mailer.maildir import deliver_to_maildir
from tests.e2e.conftest import count_rows, wait_until, write_config
from tests.e2e.test_web_worker import wait_for_form
from tests.integration.smtp_sink import SmtpSink, unused_port
from tests.webhelpers import FAQ_ENTRIES, counts, write_faq
from tickets.models import Ticket

EXPORT_URL = "https://ventanilla.example/faq/exportar"
RENEW_URL = "https://ventanilla.example/faq/renovar"
EXPORT_QUESTION = "¿Cómo exporto mi certificado a otro navegador? Necesito una copia en el portátil nuevo."
BROKEN = '+++\ntitle = "¿Cómo exporto mi certificado?"\nlang = "es"\n+++\nSin url.\n'


def _config(tmp_path: Path, sink: SmtpSink, port: int, faq: Path) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "poll_seconds": 0.3},
            "outbound": {"kind": "smtp", "host": "127.0.0.1", "port": sink.port, "security": "none"},
            "web": {"listen": f"127.0.0.1:{port}"},
            "faq": {"path": str(faq)},
        },
    )


def _mail(tmp_path: Path, n: int, text: str) -> str:
    """A user's question into the Maildir; its sender (one per mail: acknowledgements are capped)."""
    sender = f"user{n}@correo.example"
    raw = (
        f"From: Usuario {n} <{sender}>\r\nTo: soporte@ventanilla.example\r\n"
        f"Subject: Consulta {n}\r\nMessage-ID: <faq-reload-{n}@correo.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hola,\r\n{text}\r\nGracias.\r\n"
    ).encode()
    deliver_to_maildir(tmp_path / "maildir", raw)
    return sender


def _ack_text(sink: SmtpSink, sender: str) -> str:
    """The plain text of the acknowledgement `sender` got (waits for it)."""
    wait_until(lambda: bool(sink.delivered_to(sender)), seconds=30, what=f"the acknowledgement to {sender}")
    (ack,) = sink.delivered_to(sender)
    body = ack.parsed().get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _suggested(base: str, text: str) -> list[str]:
    return [s["url"] for s in httpx.get(f"{base}/faq/suggest", params={"q": text, "lang": "es"}, timeout=10).json()]


def _hang_up(worker, said: str) -> None:  # type: ignore[no-untyped-def]
    """SIGHUP, then wait for the worker's one line on it."""
    before = worker.output().count("SIGHUP:")
    os.kill(worker.pid, signal.SIGHUP)
    wait_until(lambda: worker.output().count("SIGHUP:") > before, seconds=15, what="the reload's line")
    line = [x for x in worker.output().splitlines() if "SIGHUP:" in x][-1]
    assert said in line, line


@pytest.mark.timeout(120)
def test_sighup_reloads_the_faq_for_acknowledgements_and_the_form(  # type: ignore[no-untyped-def]
    tmp_path: Path, smtp_sink: SmtpSink, worker_factory, db_engine_for
) -> None:
    faq = write_faq(tmp_path / "faq", {"renovar": FAQ_ENTRIES["renovar"]})
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    worker = worker_factory(_config(tmp_path, smtp_sink, port, faq), tmp_path)
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    wait_for_form(base, worker.proc, worker.output)

    # Before: no entry answers the question, and the acknowledgement suggests nothing for it.
    assert EXPORT_URL not in _ack_text(smtp_sink, _mail(tmp_path, 1, EXPORT_QUESTION))
    assert _suggested(base, EXPORT_QUESTION) == []

    # The operator adds an entry and reloads: the next acknowledgement and the form suggest it.
    write_faq(faq, {"exportar": FAQ_ENTRIES["exportar"]})
    _hang_up(worker, "SIGHUP: templates reloaded; FAQ reloaded: 2 entries")
    assert EXPORT_URL in _ack_text(smtp_sink, _mail(tmp_path, 2, EXPORT_QUESTION))
    assert _suggested(base, EXPORT_QUESTION) == [EXPORT_URL]
    assert RENEW_URL in _ack_text(smtp_sink, _mail(tmp_path, 3, "Mi certificado ha caducado, ¿cómo lo renuevo?"))

    # The entry is broken while being edited, and another added: the reload is refused, the file
    # named in one line, and the entries in use stay (the one being edited included).
    (faq / "exportar.md").write_text(BROKEN, encoding="utf-8")
    write_faq(faq, {"revocar": FAQ_ENTRIES["revocar"]})
    _hang_up(worker, "FAQ kept: 2 entries")
    refused = [line for line in worker.output().splitlines() if "FAQ not reloaded" in line]
    assert len(refused) == 1 and f"{faq / 'exportar.md'}: url is missing" in refused[0], refused
    assert EXPORT_URL in _ack_text(smtp_sink, _mail(tmp_path, 4, EXPORT_QUESTION))
    assert _suggested(base, EXPORT_QUESTION) == [EXPORT_URL]

    # Fixed: the next reload takes all three.
    write_faq(faq, {"exportar": FAQ_ENTRIES["exportar"]})
    _hang_up(worker, "FAQ reloaded: 3 entries")

    assert worker.alive(), worker.output()[-3000:]
    assert worker.terminate(timeout=20) == 0, worker.output()[-3000:]
    assert count_rows(engine, Ticket) == 4
    assert counts(engine)["receipts"] == 4
    assert "Traceback" not in worker.output()
