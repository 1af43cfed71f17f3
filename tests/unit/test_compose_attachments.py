"""Outgoing mail with files: multipart/mixed around the text and HTML, each file's exact bytes,
names that stay one clean header value, and content types that are tokens or octet-stream."""

from email.message import EmailMessage

from mailer.attachments import content_type, filename_params
from tests.unit.test_compose import compose, intent, parse, text_of
from tickets.values import Attachment

PDF = bytes(range(256)) * 10


def _files(msg: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in msg.iter_attachments()]


def test_files_ride_in_a_mixed_message_after_the_text_and_html() -> None:
    files = (
        Attachment(filename="justificante.pdf", content_type="application/pdf", data=PDF),
        Attachment(filename="guía de instalación (v2).pdf", content_type="application/pdf", data=b"%PDF guia"),
        Attachment(filename="vacío.txt", content_type="text/plain", data=b""),
    )
    msg = parse(compose(intent(kind="agent_reply", attachments=files)))
    assert msg.get_content_type() == "multipart/mixed"
    first = next(msg.iter_parts())
    assert first.get_content_type() == "multipart/alternative"
    assert text_of(msg.get_body(("plain",))) == "Hola María\n"  # type: ignore[arg-type]
    assert _files(msg) == [
        ("justificante.pdf", "application/pdf", PDF),
        ("guía de instalación (v2).pdf", "application/pdf", b"%PDF guia"),
        ("vacío.txt", "text/plain", b""),
    ]


def test_without_files_the_message_stays_multipart_alternative() -> None:
    assert parse(compose()).get_content_type() == "multipart/alternative"


def test_a_hostile_name_or_type_cannot_add_a_header_or_a_path() -> None:
    evil = Attachment(filename='../x"\r\nBcc: v@x.example\r\n.pdf', content_type="text/html\r\nBcc: y", data=b"x")
    raw = compose(intent(attachments=(evil,)))
    msg = parse(raw)
    assert msg["Bcc"] is None and b"\r\nBcc:" not in raw
    ((name, ctype, data),) = _files(msg)
    assert ctype == "application/octet-stream" and data == b"x"
    assert name is not None and "/" not in name and "\n" not in name and "Bcc" in name
    assert content_type("Application/PDF") == "application/pdf"
    assert filename_params("a.pdf") == ('name="a.pdf"', 'filename="a.pdf"')
