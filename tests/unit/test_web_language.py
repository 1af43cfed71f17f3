"""The page's language travels in the web form's mail as its Content-Language, and parses back."""

from datetime import UTC, datetime

import pytest

from mailer.parse import ParsePolicy, parse_message
from mailer.webform import WebMail, compose_web_mail

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
SUPPORT = "soporte@ventanilla.example"


def _raw(language: str, attachment: tuple[str, str, bytes] | None = None) -> bytes:
    mail = WebMail(
        name="Ana", email="ana@example.org", subject="Renovar", message="Hola", attachment=attachment, language=language
    )
    return compose_web_mail(
        mail,
        to=SUPPORT,
        message_id="<web.0.x@web.ventanilla.example>",
        client_ip="127.0.0.1",
        user_agent="t",
        now=NOW,
        fallback_subject="Consulta",
    )


@pytest.mark.parametrize("attachment", [None, ("a.txt", "text/plain", b"hola")])
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_page_language_is_the_mails_content_language(language: str, attachment: object) -> None:
    raw = _raw(language, attachment)  # type: ignore[arg-type]
    assert f"\nContent-Language: {language}\r\n".encode() in raw
    assert parse_message(raw, ParsePolicy(own_addresses=frozenset({SUPPORT}))).content_language == language


def test_no_language_no_header() -> None:
    raw = _raw("")
    assert b"Content-Language" not in raw
    assert parse_message(raw, ParsePolicy(own_addresses=frozenset({SUPPORT}))).content_language == ""


@pytest.mark.parametrize(
    ("header", "parsed"),
    [("en-GB, es", "en"), ("ES", "es"), ("de", "de"), ("", ""), ("e n", ""), ("ñu", ""), ("abcdefghij", "")],
)
def test_content_language_is_the_first_tags_primary_subtag(header: str, parsed: str) -> None:
    raw = (
        f"From: a@example.org\r\nTo: {SUPPORT}\r\nSubject: x\r\nMessage-ID: <l@example.org>\r\n"
        f"Content-Language: {header}\r\n\r\nHola\r\n"
    ).encode()
    assert parse_message(raw, ParsePolicy(own_addresses=frozenset({SUPPORT}))).content_language == parsed
