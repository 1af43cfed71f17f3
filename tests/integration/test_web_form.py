"""The web form against a real database (SQLite and PostgreSQL), through Starlette's TestClient."""

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from config.settings import CategoryRule, OutboundSettings, Settings
from config.web import WebSettings
from tests.webhelpers import counts, filled, token_of, write_faq
from tickets.clock import FakeClock
from tickets.db import read_only
from tickets.models import Outbox, Receipt, Ticket
from tickets.web.models import WebSubmission
from ventanilla.app import App
from ventanilla.web.app import build_web_app
from ventanilla.web.server import load_suggester, make_web_parts

FIELDS = ("name", "email", "subject", "message", "category", "attachment")


@pytest.fixture
def web(make_settings: Callable[..., Settings], db_url: str, engine: Engine, clock: FakeClock, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory: a TestClient on the form over this database, with these [web] settings."""
    clients: list[TestClient] = []

    def make(acks_per_hour: int = 5, **web_settings: Any) -> TestClient:
        settings = make_settings(db_url=db_url, web=WebSettings(**web_settings))
        helpdesk = settings.helpdesk.model_copy(
            update={
                "categories": [
                    CategoryRule(name="renewal", keywords=["renovar"]),
                    CategoryRule(name="billing", keywords=["factura"]),
                ]
            }
        )
        outbound = OutboundSettings(kind="file", path=str(tmp_path / "sent"), acks_per_sender_per_hour=acks_per_hour)
        faq = settings.faq.model_copy(update={"path": str(write_faq(tmp_path / "faq"))})
        settings = settings.model_copy(update={"helpdesk": helpdesk, "outbound": outbound, "faq": faq})
        app = App(settings, engine, clock)
        client = TestClient(build_web_app(make_web_parts(app, load_suggester(settings))))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def page_and_token(client: TestClient, clock: FakeClock, query: str = "") -> str:
    page = client.get("/" + query)
    assert page.status_code == 200
    clock.advance(seconds=4)  # a person takes longer than the 3 s minimum
    return token_of(page.text)


def test_the_form_has_its_fields_labelled_its_token_hidden_and_no_inline_script(web) -> None:  # type: ignore[no-untyped-def]
    page = web().get("/")
    html = page.text
    for field in FIELDS:
        assert f'name="{field}"' in html
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert re.search(r'<input type="hidden" name="csrf_token" value="[^"]+">', html)
    assert 'name="website"' in html and 'class="trap" aria-hidden="true"' in html
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/suggest.js" defer>']
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handler either
    assert 'style="' not in html
    assert 'aria-live="polite"' in html and 'role="alert"' in html
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize(
    ("query", "accept", "lang", "words"),
    [
        ("?lang=en", "es-ES", "en", "Your question"),
        ("?lang=es", "en-GB", "es", "Consulta"),
        ("", "en-GB,en;q=0.9", "en", "Your question"),
        ("", "", "es", "Consulta"),
    ],
)
def test_the_language_of_the_page(web, query: str, accept: str, lang: str, words: str) -> None:  # type: ignore[no-untyped-def]
    html = web().get("/" + query, headers={"accept-language": accept}).text
    assert f'<html lang="{lang}">' in html and words in html


def test_a_submission_becomes_a_ticket_acknowledged_like_any_mail(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web()
    token = page_and_token(client, clock)
    files = {"attachment": ("captura.png", b"\x89PNG\r\n\x1a\n....", "image/png")}
    answer = client.post("/", data=filled(token, category="renewal"), files=files, headers={"user-agent": "Test/1.0"})
    assert answer.status_code == 200
    reference = int(re.search(r"\[#(\d+)\]", answer.text)[1])  # type: ignore[index]
    with read_only(engine) as session:
        ticket = session.get(Ticket, reference)
        assert ticket is not None and ticket.requester_email == "ana@example.org"
        receipt = session.scalars(select(Receipt)).one()
        assert (receipt.mailbox, receipt.status, receipt.ticket_id) == ("web", "ticketed", reference)
        assert receipt.message_id.startswith("<web.0.") and receipt.sender == "ana@example.org"
        acks = session.scalars(select(Outbox).where(Outbox.kind == "ack")).all()
        assert [a.recipients for a in acks] == ["ana@example.org"]
        assert f"[#{reference}]".encode() in acks[0].raw
        raw = session.scalars(select(Receipt)).one()
    from tickets.ingest.mail_log import raw_of

    with read_only(engine) as session:
        stored = raw_of(session, session.get(Receipt, raw.id))  # type: ignore[arg-type]
    assert b'X-Ventanilla-Web: from [testclient] via web form; user-agent "Test/1.0"' in stored
    assert b'filename="captura.png"' in stored


def test_errors_come_back_next_to_their_fields_with_the_input_kept_and_nothing_stored(  # type: ignore[no-untyped-def]
    web, clock: FakeClock, engine: Engine
) -> None:
    client = web()
    token = page_and_token(client, clock, "?lang=en")
    data = filled(token, email="not an address", message="short", name="<script>alert(1)</script>")
    answer = client.post("/?lang=en", data=data)
    assert answer.status_code == 422
    html = answer.text
    assert 'value="not an address"' in html and ">short</textarea>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert 'aria-describedby="email-hint email-error" aria-invalid="true"' in html
    assert re.search(r'<p class="error" id="email-error">.*Enter a valid email address', html)
    assert re.search(r'<p class="error" id="message-error">.*at least 10 characters', html)
    assert "Please check the marked fields: 2." in html
    assert counts(engine) == {"tickets": 0, "receipts": 0, "outbox": 0}
    with read_only(engine) as session:
        assert session.scalars(select(WebSubmission)).all() == []


def test_spanish_errors(web, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    client = web()
    token = page_and_token(client, clock)
    html = client.post("/", data=filled(token, email="")).text
    assert re.search(r'<p class="error" id="email-error">.*Este campo es obligatorio', html)


@pytest.mark.parametrize("how", ["no token", "forged", "another browser"])
def test_a_post_without_a_valid_token_is_refused_and_nothing_stored(  # type: ignore[no-untyped-def]
    web, clock: FakeClock, engine: Engine, how: str
) -> None:
    client = web()
    token = page_and_token(client, clock)
    if how == "no token":
        token = ""
    elif how == "forged":
        token = token[:-3] + "abc"
    else:
        client.cookies.clear()
        client.cookies.set("ventanilla_form", "someone-else")
    answer = client.post("/", data=filled(token))
    assert answer.status_code == 403
    assert counts(engine) == {"tickets": 0, "receipts": 0, "outbox": 0}


@pytest.mark.parametrize("how", ["honeypot", "too fast"])
def test_a_bot_is_answered_like_a_person_stored_as_ignored_and_sent_nothing(  # type: ignore[no-untyped-def]
    web, clock: FakeClock, engine: Engine, how: str
) -> None:
    client = web()
    page = client.get("/")
    token = token_of(page.text)
    clock.advance(seconds=1 if how == "too fast" else 30)
    answer = client.post("/", data=filled(token, website="http://cheap.example" if how == "honeypot" else ""))
    assert answer.status_code == 200 and "Consulta recibida" in answer.text
    with read_only(engine) as session:
        receipt = session.scalars(select(Receipt)).one()
    assert (receipt.mailbox, receipt.status, receipt.ticket_id) == ("web", "ignored", None)
    assert receipt.reason.startswith("spam: ")
    assert receipt.sender == "ana@example.org"
    assert counts(engine) == {"tickets": 0, "receipts": 1, "outbox": 0}


def test_one_address_gets_five_submissions_an_hour(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web(per_email_per_hour=5, per_ip_per_hour=100)
    for _ in range(5):
        assert client.post("/", data=filled(page_and_token(client, clock))).status_code == 200
    refused = client.post("/", data=filled(page_and_token(client, clock)))
    assert refused.status_code == 429 and "Demasiados envíos" in refused.text
    assert counts(engine)["receipts"] == 5
    other = client.post("/", data=filled(page_and_token(client, clock), email="luis@example.org"))
    assert other.status_code == 200
    clock.advance(hours=1)
    assert client.post("/", data=filled(page_and_token(client, clock))).status_code == 200


def test_a_refusal_says_in_retry_after_when_a_place_frees(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web(per_email_per_hour=2, per_ip_per_hour=100)
    first = clock.now() + timedelta(seconds=4)  # page_and_token: 4 s to fill the form in
    for _ in range(2):
        assert client.post("/", data=filled(page_and_token(client, clock))).status_code == 200
    token = page_and_token(client, clock)  # 12 s after the start: the first leaves the hour in 3,592 s
    refused = client.post("/", data=filled(token))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3592"
    clock.advance(seconds=3591)  # one second early: still refused, and told so
    early = client.post("/", data=filled(token))
    assert early.status_code == 429 and early.headers["retry-after"] == "1"
    assert clock.now() == first + timedelta(seconds=3599)
    clock.advance(seconds=1)  # as told
    assert client.post("/", data=filled(token)).status_code == 200
    assert counts(engine)["receipts"] == 3


def test_retry_after_waits_for_every_cap_reached(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web(per_email_per_hour=1, per_ip_per_hour=2)
    assert client.post("/", data=filled(page_and_token(client, clock), email="a@example.org")).status_code == 200
    clock.advance(minutes=30)
    assert client.post("/", data=filled(page_and_token(client, clock))).status_code == 200  # ana@, 30 min later
    refused = client.post("/", data=filled(page_and_token(client, clock)))  # ana@ again: both caps reached
    # The client's cap frees in 30 minutes (a@'s leaves), the address's only when ana@'s own leaves.
    assert refused.status_code == 429 and refused.headers["retry-after"] == str(3600 - 4)
    assert counts(engine)["receipts"] == 2


def test_one_client_gets_its_hourly_cap_whatever_the_addresses(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web(per_ip_per_hour=3)
    for n in range(3):
        data = filled(page_and_token(client, clock), email=f"user{n}@example.org")
        assert client.post("/", data=data).status_code == 200
    refused = client.post("/", data=filled(page_and_token(client, clock), email="user9@example.org"))
    assert refused.status_code == 429
    assert counts(engine)["receipts"] == 3


def test_never_more_acknowledgements_than_the_per_sender_cap(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web(acks_per_hour=2)
    for _ in range(4):
        assert client.post("/", data=filled(page_and_token(client, clock))).status_code == 200
    with read_only(engine) as session:
        acks = session.scalars(select(Outbox).where(Outbox.kind == "ack")).all()
    assert counts(engine)["tickets"] == 4 and len(acks) == 2


@pytest.mark.parametrize(
    ("filename", "data", "error"),
    [
        ("big.pdf", b"%PDF" + b"x" * 2048, "supera el tamaño máximo"),
        ("setup.exe", b"MZ\x90", "No se admiten programas"),
    ],
)
def test_an_attachment_too_large_or_executable_is_refused(  # type: ignore[no-untyped-def]
    web, clock: FakeClock, engine: Engine, filename, data, error
) -> None:
    client = web(max_attachment_bytes=2048)
    token = page_and_token(client, clock)
    answer = client.post("/", data=filled(token), files={"attachment": (filename, data, "application/octet-stream")})
    assert answer.status_code == 422 and error in answer.text
    assert counts(engine)["receipts"] == 0


def test_a_body_over_the_limit_is_refused_before_it_is_read(web, clock: FakeClock, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    client = web(max_attachment_bytes=1024)
    token = page_and_token(client, clock)
    files = {"attachment": ("big.bin", b"x" * (400 * 1024), "application/octet-stream")}
    assert client.post("/", data=filled(token), files=files).status_code == 413
    assert counts(engine)["receipts"] == 0


def test_faq_suggestions_as_json(web) -> None:  # type: ignore[no-untyped-def]
    client = web()
    found = client.get("/faq/suggest", params={"q": "mi certificado ha caducado, ¿cómo lo renuevo?", "lang": "es"})
    assert found.status_code == 200 and found.headers["content-type"] == "application/json"
    items = found.json()
    assert items and items[0]["url"] == "https://ventanilla.example/faq/renovar"
    assert set(items[0]) == {"title", "url", "score"} and items[0]["score"] > 0
    english = client.get("/faq/suggest", params={"q": "how do I renew my expired certificate", "lang": "en"}).json()
    assert [i["url"] for i in english][:1] == ["https://ventanilla.example/faq/renew"]
    assert client.get("/faq/suggest", params={"q": "", "lang": "es"}).json() == []
    assert client.get("/faq/suggest", params={"q": "zzz qqq", "lang": "es"}).json() == []
    # An English page, a question written in Spanish: the Spanish entries answer it.
    spanish = client.get("/faq/suggest", params={"q": "mi certificado ha caducado, ¿cómo lo renuevo?", "lang": "en"})
    assert [i["url"] for i in spanish.json()][:1] == ["https://ventanilla.example/faq/renovar"]


def test_the_script_and_the_stylesheet_are_served_with_their_types(web) -> None:  # type: ignore[no-untyped-def]
    client = web()
    script = client.get("/static/suggest.js")
    assert script.headers["content-type"].startswith("text/javascript") and "/faq/suggest" in script.text
    assert client.get("/static/form.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/../../config/default.toml").status_code == 404


def test_no_personal_data_in_the_logs(web, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    client = web()
    caplog.set_level(logging.DEBUG)
    token = page_and_token(client, clock)
    answer = client.post("/", data=filled(token), headers={"user-agent": "SecretAgent/9"})
    reference = re.search(r"\[#(\d+)\]", answer.text)[1]  # type: ignore[index]
    logged = "\n".join(r.getMessage() + " " + repr(r.__dict__.get("extra", "")) for r in caplog.records)
    assert f"ticket #{reference}" in logged
    for private in ("ana@example.org", "Ana Pérez", "renovar", "SecretAgent", "testclient"):
        assert private not in logged
