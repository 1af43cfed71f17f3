"""The form of a running worker, over HTTP, to the SMTP sink: the acknowledgement is in the
language of the page the submission came from, not of its text."""

import time
from pathlib import Path

import httpx2 as httpx

from tests.e2e.conftest import wait_until
from tests.e2e.test_web_worker import wait_for_form, web_config
from tests.integration.smtp_sink import SmtpSink, unused_port
from tests.webhelpers import filled, token_of

SPANISH = "Mi certificado caduca mañana y no consigo renovarlo desde la sede, ¿qué tengo que hacer?"
ENGLISH = "My certificate expires tomorrow and I cannot renew it from the website, what should I do?"


def _submit(base: str, lang: str, email: str, message: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        token = token_of(client.get("/", params={"lang": lang}).text)
        time.sleep(0.6)  # the minimum fill time of this config
        answer = client.post("/", params={"lang": lang}, data=filled(token, email=email, subject="", message=message))
        assert answer.status_code == 200, answer.text


def test_the_acknowledgement_speaks_the_pages_language(tmp_path: Path, smtp_sink: SmtpSink, worker_factory) -> None:  # type: ignore[no-untyped-def]
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    config = web_config(tmp_path, f"sqlite:///{tmp_path}/ventanilla.db", port, smtp_sink, faq=False)
    worker = worker_factory(config, tmp_path)
    wait_for_form(base, worker.proc, worker.output)
    _submit(base, "en", "ana@example.org", SPANISH)
    _submit(base, "es", "bob@example.org", ENGLISH)
    for address, language, subject, greeting in (
        ("ana@example.org", "en", "Request from the web form", "Hello Ana Pérez,"),
        ("bob@example.org", "es", "Consulta desde el formulario web", "Hola Ana Pérez:"),
    ):
        wait_until(lambda a=address: bool(smtp_sink.delivered_to(a)), seconds=30, what=f"the ack to {address}")
        (received,) = smtp_sink.delivered_to(address)
        ack = received.parsed()
        body = ack.get_body(preferencelist=("plain",))
        assert body is not None
        assert ack["Content-Language"] == language and str(ack["Subject"]).endswith(subject), ack["Subject"]
        assert str(body.get_content()).startswith(greeting)
    assert worker.terminate(timeout=20) == 0, worker.output()[-3000:]
