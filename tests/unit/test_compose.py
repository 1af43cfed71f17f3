"""Composing outgoing mail: headers, threading, injection, VERP and the retry rule."""

import random
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, MIMEPart

import pytest

from config.settings import HelpdeskSettings
from mailer.compose import (
    HeaderValueError,
    compose_email,
    header_safe,
    make_message_id,
    parse_verp,
    verp_address,
)
from mailer.templating import RenderedTemplate
from tests.samples import sample_context
from tickets.outbox.queries import is_expired, next_attempt
from tickets.values import OutgoingEmail

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
HELPDESK = HelpdeskSettings()
SECRET = "s3cret-for-tests"
MSGID = "<ack.7.abc123@ventanilla.example>"
RENDERED = RenderedTemplate(subject="[#7] Hola", text="Hola María\n", html="<p>Hola María</p>\n")


def intent(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "kind": "ack",
        "ticket_id": 7,
        "to": ("maria@example.org",),
        "idempotency_key": "ack:1",
        "language": "es",
        "auto_submitted": "auto-replied",
        "in_reply_to": "<user-1@example.org>",
        "references": ("<root@example.org>",),
    }
    values.update(overrides)
    values.setdefault("context", sample_context(str(values["kind"]), NOW))
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def compose(
    the_intent: OutgoingEmail | None = None,
    rendered: RenderedTemplate = RENDERED,
    helpdesk: HelpdeskSettings = HELPDESK,
) -> bytes:
    return compose_email(
        the_intent or intent(),
        rendered,
        helpdesk=helpdesk,
        message_id=MSGID,
        reply_to="soporte+t7.sig@ventanilla.example",
        now=NOW,
    )


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(part: MIMEPart) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return [
        line.split(":", 1)[0].lower()
        for line in head.split("\r\n")
        if line and line[0] not in " \t"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hi\r\nBcc: v@x", "hi Bcc: v@x"),
        ("a\x00b\x07c", "a b c"),
        ("  lots \t of\u2028space  ", "lots of space"),
        ("evil\u202egnp.exe", "evil gnp.exe"),
        ("x" * 300, "x" * 255 + "…"),
        (12, "12"),
    ],
)
def test_header_safe(value: object, expected: str) -> None:
    assert header_safe(value) == expected


def test_ack_headers() -> None:
    raw = compose()
    msg = parse(raw)
    assert msg["From"] == "Soporte Ventanilla <soporte@ventanilla.example>"
    assert msg["To"] == "maria@example.org"
    assert msg["Subject"] == "[#7] Hola"
    assert msg["Date"] == "Mon, 05 Oct 2026 09:00:00 +0000"
    assert msg["Message-ID"] == MSGID
    assert msg["In-Reply-To"] == "<user-1@example.org>"
    assert msg["References"].split() == ["<root@example.org>", "<user-1@example.org>"]
    assert msg["Reply-To"] == "Soporte Ventanilla <soporte+t7.sig@ventanilla.example>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Precedence"] == "auto_reply"
    assert msg["X-Ventanilla-Loop"] == "soporte@ventanilla.example"
    assert msg["Content-Language"] == "es"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = msg.iter_parts()
    assert plain.get_content_type() == "text/plain" and text_of(plain) == "Hola María\n"
    assert html.get_content_type() == "text/html" and text_of(html) == "<p>Hola María</p>\n"
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_a_human_reply_is_not_marked_automatic() -> None:
    msg = parse(compose(intent(kind="agent_reply", auto_submitted="")))
    assert "Auto-Submitted" not in msg and "Precedence" not in msg
    assert "X-Auto-Response-Suppress" not in msg
    assert msg["X-Ventanilla-Loop"] == "soporte@ventanilla.example"


def test_alerts_are_auto_generated_without_precedence() -> None:
    msg = parse(compose(intent(kind="sla_alert", auto_submitted="auto-generated")))
    assert msg["Auto-Submitted"] == "auto-generated" and "Precedence" not in msg


def test_cpython_121650_encoded_crlf_in_subject_injects_nothing() -> None:
    decoded = str(make_header(decode_header("=?UTF-8?Q?hi=0D=0ABcc:_v@x?=")))
    assert decoded == "hi\r\nBcc: v@x"
    name = str(make_header(decode_header("=?UTF-8?Q?Ana=0D=0ACc:_w@x?=")))
    rendered = RenderedTemplate(subject=f"[#7] {decoded}", text="t", html="<p>t</p>")
    helpdesk = HelpdeskSettings(name=name)
    raw = compose(rendered=rendered, helpdesk=helpdesk)
    names = header_names(raw)
    assert names.count("subject") == 1 and names.count("from") == 1 and names.count("to") == 1
    assert "bcc" not in names and "cc" not in names
    msg = parse(raw)
    assert msg["Subject"] == "[#7] hi Bcc: v@x"
    assert [a.addr_spec for a in msg["To"].addresses] == ["maria@example.org"]
    assert [a.addr_spec for a in msg["From"].addresses] == ["soporte@ventanilla.example"]


@pytest.mark.parametrize(
    "bad",
    ["maria@example.org\r\nBcc: v@x", "maria@example.org, v@x", "Maria <m@x.org>", "m@x\x00.org"],
)
def test_recipients_that_are_not_one_address_are_refused(bad: str) -> None:
    with pytest.raises(HeaderValueError):
        compose(intent(to=(bad,)))


@pytest.mark.parametrize("forged", ["<a b@x>", "no-at-sign", "<x@y>\r\nBcc: v@x", "<<x@y>>", ""])
def test_unusable_in_reply_to_is_dropped(forged: str) -> None:
    msg = parse(compose(intent(in_reply_to=forged, references=())))
    assert "In-Reply-To" not in msg and "Bcc" not in msg
    assert "bcc" not in header_names(compose(intent(in_reply_to=forged, references=())))


def test_long_references_are_folded_not_encoded() -> None:
    long_ids = tuple(f"<{'a' * 90}.{i}@mail.example.org>" for i in range(30))
    raw = compose(intent(references=long_ids, in_reply_to=long_ids[-1]))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"=?" not in head
    refs = parse(raw)["References"].split()
    assert len(refs) == 20 and refs[0] == long_ids[0] and refs[-1] == long_ids[-1]
    assert parse(raw)["In-Reply-To"] == long_ids[-1]


BODIES = [
    "",
    "no final newline",
    "Línea con tilde y eñe.\r\nCRLF line\rCR only\n",
    ".\n..\nFrom a dot line and a From line\n",
    "trailing spaces   \ntab\t\n" + "x" * 300 + "\n" + "ü" * 120 + "\n",
    "=?utf-8?q?not_a_header?= and = signs == \n",
    "emoji 🎫 and a bidi \u202e mark\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_bodies_survive_the_wire(body: str) -> None:
    raw = compose(rendered=RenderedTemplate(subject="s", text=body, html=f"<pre>{body}</pre>"))
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    assert raw.isascii()
    plain, html = parse(raw).iter_parts()
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    expected += "" if expected.endswith("\n") or not expected else "\n"
    assert text_of(plain) == expected
    assert text_of(html).rstrip("\n") == f"<pre>{body}</pre>".replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def test_long_non_ascii_subject_and_name_are_encoded_and_folded() -> None:
    subject = "[#7] " + "Renovación del certificado de representante " * 5
    helpdesk = HelpdeskSettings(name="Oficina de Atención Ciudadana — Área de Certificación Electrónica")
    raw = compose(rendered=RenderedTemplate(subject=subject, text="t", html="<p>t</p>"), helpdesk=helpdesk)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and all(len(line) <= 998 for line in head.split(b"\r\n"))
    msg = parse(raw)
    assert msg["Subject"] == header_safe(subject)
    assert msg["From"].addresses[0].display_name == helpdesk.name
    assert msg["Reply-To"].addresses[0].display_name == helpdesk.name


def test_message_ids() -> None:
    assert (
        make_message_id(
            kind="ack", ticket_id=7, domain="soporte@ventanilla.example", unique="1759654800.ab12"
        )
        == "<ack.7.1759654800.ab12@ventanilla.example>"
    )
    odd = make_message_id(kind="a<b>", ticket_id=None, domain="x\r\n@evil>.example", unique="<u>")
    assert odd == "<ab.0.u@evil.example>"


def test_verp_round_trip() -> None:
    address = verp_address("Soporte@Ventanilla.example", 42, SECRET)
    local, _, domain = address.partition("@")
    assert local.startswith("soporte+b42.") and domain == "ventanilla.example"
    assert len(local.rsplit(".", 1)[1]) * 4 >= 96
    assert parse_verp(address, "soporte@ventanilla.example", SECRET) == 42
    assert parse_verp(f"<{address.upper()}>", "soporte@ventanilla.example", SECRET) == 42


@pytest.mark.parametrize(
    "tamper",
    [
        lambda a: a.replace("+b42.", "+b43."),  # another row
        lambda a: a.replace("+b42.", "+b042."),
        lambda a: a[: -len("@ventanilla.example") - 1] + "0@ventanilla.example",  # signature
        lambda a: a.replace("ventanilla.example", "evil.example"),
        lambda a: a.replace("+b42.", "+b42"),
        lambda a: "soporte@ventanilla.example",
    ],
)
def test_verp_forgeries_are_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    address = tamper(verp_address("soporte@ventanilla.example", 42, SECRET))
    assert parse_verp(address, "soporte@ventanilla.example", SECRET) is None


def test_verp_needs_the_secret() -> None:
    address = verp_address("soporte@ventanilla.example", 42, SECRET)
    assert parse_verp(address, "soporte@ventanilla.example", "another-secret") is None


@pytest.mark.parametrize(
    ("attempts", "minutes"), [(0, 1), (1, 1), (2, 5), (3, 15), (4, 30), (5, 60), (9, 60)]
)
def test_backoff_is_capped_with_jitter(attempts: int, minutes: int) -> None:
    rng = random.Random(1)
    for _ in range(50):
        wait = next_attempt(attempts, NOW, rng) - NOW
        assert timedelta(minutes=minutes * 0.8) <= wait <= timedelta(minutes=minutes * 1.2)


def test_backoff_is_reproducible_with_a_seed() -> None:
    assert next_attempt(3, NOW, random.Random(7)) == next_attempt(3, NOW, random.Random(7))


def test_expiry() -> None:
    assert not is_expired(NOW, NOW + timedelta(hours=119), timedelta(hours=120))
    assert is_expired(NOW, NOW + timedelta(hours=120), timedelta(hours=120))
