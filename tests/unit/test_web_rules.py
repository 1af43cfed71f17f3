"""The web form's pure rules: validation, attachments, CSRF tokens, spam, caps, language, the MIME."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from mailer.webform import TRACE_HEADER, WebMail, compose_web_mail, web_message_id
from tickets.report.quiet import quiet_spans
from tickets.web.caps import Caps, over_cap
from tickets.web.csrf import CsrfError, CsrfKey
from tickets.web.form import Attachment, FormInput, is_executable, safe_filename, validate
from tickets.web.spam import spam_reason
from ventanilla.web.texts import TEXTS, pick_language, size_words

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
GOOD = {"email": "Ana@Example.org", "message": "Mi certificado caduca mañana, ¿cómo lo renuevo?"}


def check(**fields: object) -> dict[str, str]:
    values = {**GOOD, **fields}
    _, errors = validate(FormInput(**values), categories=("renewal",), max_attachment_bytes=1000)  # type: ignore[arg-type]
    return errors


def test_a_valid_submission_is_cleaned_and_the_address_normalised() -> None:
    sub, errors = validate(
        FormInput(name=" Ana\r\n Pérez ", subject="Renovar\t[#12] ya", category="renewal", **GOOD),
        categories=("renewal",),
        max_attachment_bytes=1000,
    )
    assert errors == {}
    assert sub is not None
    assert (sub.name, sub.email, sub.category) == ("Ana Pérez", "ana@example.org", "renewal")
    assert sub.subject == "Renovar ya"  # a [#N] never threads a web submission onto someone's ticket


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": ""}, {"email": "required"}),
        ({"email": "   "}, {"email": "required"}),
        ({"email": "ana@"}, {"email": "invalid_email"}),
        ({"email": "ana example.org"}, {"email": "invalid_email"}),
        ({"email": "a" * 250 + "@x.org"}, {"email": "too_long"}),
        ({"message": ""}, {"message": "required"}),
        ({"message": "hola"}, {"message": "too_short"}),
        ({"message": "x" * 20_001}, {"message": "too_long"}),
        ({"name": "n" * 201}, {"name": "too_long"}),
        ({"subject": "s" * 201}, {"subject": "too_long"}),
        ({"category": "made-up"}, {"category": "unknown"}),
        ({"email": "", "message": ""}, {"email": "required", "message": "required"}),
    ],
)
def test_each_rule_names_its_field(fields: dict[str, str], expected: dict[str, str]) -> None:
    assert check(**fields) == expected


def test_deliverability_is_not_checked() -> None:
    assert check(email="someone@no-such-domain-for-sure.invalid-tld-zz") == {}


@pytest.mark.parametrize(
    ("filename", "ctype", "data", "error"),
    [
        ("informe.pdf", "application/pdf", b"%PDF-1.7 ...", ""),
        ("captura.png", "image/png", b"\x89PNG...", ""),
        ("big.pdf", "application/pdf", b"x" * 1001, "too_large"),
        ("setup.exe", "application/octet-stream", b"hello", "executable"),
        ("factura.pdf.exe", "application/pdf", b"%PDF", "executable"),
        ("FACTURA.PDF.JS", "text/plain", b"x", "executable"),
        ("renamed.pdf", "application/pdf", b"MZ\x90\x00 a program", "executable"),
        ("renamed.txt", "text/plain", b"\x7fELF....", "executable"),
        ("script.txt", "text/plain", b"#!/bin/sh\nrm -rf /", "executable"),
        ("x.bin", "application/x-msdownload", b"data", "executable"),
    ],
)
def test_attachments_are_bounded_and_never_programs(filename: str, ctype: str, data: bytes, error: str) -> None:
    attachment = Attachment(filename=filename, content_type=ctype, data=data)
    assert check(attachment=attachment) == ({"attachment": error} if error else {})


def test_an_attachment_name_never_becomes_a_path() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\ana\\doc.pdf") == "doc.pdf"
    assert safe_filename(".htaccess") == "htaccess"
    assert safe_filename("") == "attachment"
    assert not is_executable("doc.pdf", "application/pdf", b"%PDF")


def test_a_token_is_accepted_once_signed_for_this_browser_and_dates_the_page() -> None:
    key = CsrfKey.from_secret("s" * 40)
    token = key.issue("nonce1", NOW)
    assert key.check(token, "nonce1", NOW + timedelta(seconds=4)) == NOW


@pytest.mark.parametrize(
    ("mutate", "cookie", "later"),
    [
        (lambda t: t, "another-browser", timedelta(seconds=5)),
        (lambda t: t[:-2] + "xx", "nonce1", timedelta(seconds=5)),
        (lambda t: str(int(t.split(".")[0]) + 60000) + t[t.index(".") :], "nonce1", timedelta(seconds=5)),
        (lambda t: t, "nonce1", timedelta(hours=13)),
        (lambda t: "", "nonce1", timedelta(seconds=5)),
        (lambda t: "garbage", "nonce1", timedelta(seconds=5)),
        (lambda t: t, "", timedelta(seconds=5)),
    ],
)
def test_a_token_forged_stale_or_of_another_browser_is_refused(mutate, cookie: str, later: timedelta) -> None:  # type: ignore[no-untyped-def]
    key = CsrfKey.from_secret("s" * 40)
    with pytest.raises(CsrfError):
        key.check(mutate(key.issue("nonce1", NOW)), cookie, NOW + later)


def test_a_token_of_another_instance_is_refused_and_no_secret_means_no_form() -> None:
    token = CsrfKey.from_secret("a" * 40).issue("n", NOW)
    with pytest.raises(CsrfError):
        CsrfKey.from_secret("b" * 40).check(token, "n", NOW)
    with pytest.raises(CsrfError):
        CsrfKey.from_secret("")


def test_counters_keep_keyed_hashes_never_the_address() -> None:
    key = CsrfKey.from_secret("s" * 40)
    hashed = key.pseudonym("email", "ana@example.org")
    assert "ana" not in hashed and len(hashed) == 64
    assert hashed != CsrfKey.from_secret("t" * 40).pseudonym("email", "ana@example.org")


@pytest.mark.parametrize(
    ("honeypot", "seconds", "spam"),
    [("", 3.0, False), ("", 60.0, False), ("http://spam", 60.0, True), ("", 2.9, True), ("", 0.0, True)],
)
def test_spam_is_a_filled_honeypot_or_a_form_faster_than_3_s(honeypot: str, seconds: float, spam: bool) -> None:
    reason = spam_reason(honeypot=honeypot, filled_in=timedelta(seconds=seconds), minimum=timedelta(seconds=3))
    assert bool(reason) is spam


@pytest.mark.parametrize(
    ("counts", "cap"), [((0, 0), ""), ((9, 4), ""), ((10, 0), "ip"), ((3, 5), "email"), ((10, 5), "ip")]
)
def test_caps(counts: tuple[int, int], cap: str) -> None:
    assert over_cap(counts, Caps(per_ip_per_hour=10, per_email_per_hour=5)) == cap


@pytest.mark.parametrize(
    ("query", "accept", "default", "expected"),
    [
        ("en", "es-ES,es;q=0.9", "es", "en"),
        ("es", "en-GB", "en", "es"),
        ("fr", "en-GB,en;q=0.8", "es", "en"),
        (None, "de-DE,de;q=0.9,en;q=0.5,es;q=0.7", "en", "es"),
        (None, "de-DE", "en", "en"),
        (None, "", "es", "es"),
        (None, "en;q=0", "es", "es"),
    ],
)
def test_the_language_is_asked_then_the_browsers_then_the_helpdesks(query, accept, default, expected) -> None:  # type: ignore[no-untyped-def]
    assert pick_language(query, accept, default) == expected


def test_both_languages_word_every_text_and_sizes() -> None:
    assert set(TEXTS["es"]) == set(TEXTS["en"])
    assert size_words(5 * 1024 * 1024, "es") == "5 MB"
    assert size_words(1536 * 1024, "es") == "1,5 MB"


def test_the_submission_is_mail_from_the_user_to_support_with_a_trace() -> None:
    raw = compose_web_mail(
        WebMail(
            name="Ana\r\nBcc: victim@example.org",
            email="ana@example.org",
            subject="",
            message="Hola,\nno puedo renovar.",
            category="renewal",
            attachment=("doc.pdf", "application/pdf", b"%PDF-1.7"),
        ),
        to="soporte@ventanilla.example",
        message_id=web_message_id("soporte@ventanilla.example", "abc123"),
        client_ip="203.0.113.9",
        user_agent="Mozilla/5.0\r\nX-Evil: 1",
        now=NOW,
        fallback_subject="Consulta desde el formulario web",
    )
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["From"].addresses[0].addr_spec == "ana@example.org"
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert msg["To"] == "soporte@ventanilla.example"
    assert msg["Subject"] == "Consulta desde el formulario web"
    # Ours, but not at the helpdesk's domain (that would read as our own mail come back).
    assert msg["Message-ID"] == "<web.0.abc123@web.ventanilla.example>"
    assert "203.0.113.9" in msg[TRACE_HEADER] and "Mozilla/5.0" in msg[TRACE_HEADER]
    body = msg.get_body(("plain",))
    assert body is not None and "no puedo renovar" in body.get_content()
    (attached,) = list(msg.iter_attachments())
    assert attached.get_filename() == "doc.pdf" and attached.get_content() == b"%PDF-1.7"


def test_quiet_windows_become_spans_for_the_sentence() -> None:
    assert quiet_spans(("08:00–10:30", "18:00–19:00")) == (("08:00", "10:30"), ("18:00", "19:00"))


@pytest.mark.parametrize("listen", ["8080", "localhost", "127.0.0.1:99999", "127.0.0.1:0", "a b:80"])
def test_listen_must_be_host_and_port(listen: str) -> None:
    from pydantic import ValidationError

    from config.web import WebSettings

    with pytest.raises(ValidationError):
        WebSettings(listen=listen)


def test_listen_and_the_forms_address() -> None:
    from config.web import WebSettings

    assert WebSettings().listen == ""  # off unless set
    assert WebSettings(listen="127.0.0.1:8080").url() == "http://127.0.0.1:8080/"
    assert WebSettings(listen="[::1]:8081").host_port() == ("::1", 8081)
    assert WebSettings(listen="[::1]:8081").url() == "http://[::1]:8081/"
    assert WebSettings(listen="0.0.0.0:80", public_url="https://ayuda.example/").url() == "https://ayuda.example/"


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("es", "Para esperar menos, llame entre 08:00 y 10:30 o entre 18:00 y 19:00."),
        ("en", "To wait less, call between 08:00 and 10:30 or between 18:00 and 19:00."),
    ],
)
def test_the_quiet_hours_sentence_in_each_language(lang: str, expected: str) -> None:
    from mailer.templating import TemplateRenderer
    from tests.samples import sample_values

    values = {**sample_values("ack", NOW), "quiet_hours": (("08:00", "10:30"), ("18:00", "19:00"))}
    rendered = TemplateRenderer("", lang).render("ack", lang, values)
    assert expected in rendered.text and expected in rendered.html
    del values["quiet_hours"]
    assert "10:30" not in TemplateRenderer("", lang).render("ack", lang, values).text
