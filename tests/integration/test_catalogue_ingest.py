"""RELIABILITY.md catalogue cases that lacked a test asserting their outcome: ingestion through the
real pipeline (Dovecot or a Maildir in, a real database, SQLite and PostgreSQL). See tests/RELIABILITY.md."""

import asyncio
import hashlib
import io
import logging
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import func, select

from mailer.maildir import MaildirSource, deliver_to_maildir
from tests.integration.smtp_sink import *  # noqa: F403
from tests.integration.smtp_sink import SmtpSink
from tests.integration.test_ack_delivery import Desk, smtp_settings
from tests.mailgen import append_all, backlog
from tickets import repository as repo
from tickets.db import read_only
from tickets.models import AttachmentRow, Message, Receipt, Ticket
from ventanilla.app import App
from ventanilla.wiring import make_poller
from ventanilla.worker import MailboxLoop


def run(settings, engine, clock):  # type: ignore[no-untyped-def]
    poller = make_poller(App(settings, engine, clock))
    try:
        return poller.run_once()
    finally:
        poller.source.close()


def count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def mail(subject: str, *, sender: str = "lucia@correo.example", body: str | None = "Hola", when=None) -> EmailMessage:  # type: ignore[no-untyped-def]
    msg = EmailMessage()
    msg["From"] = f"Lucía <{sender}>"
    msg["To"] = "soporte@ventanilla.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime(2026, 10, 5, 8, 0, tzinfo=UTC))
    msg["Message-ID"] = f"<{hashlib.sha1(subject.encode()).hexdigest()[:12]}@correo.example>"
    if body is not None:
        msg.set_content(body)
    return msg


# -- A5: a new UIDVALIDITY is said (an alert in the log), nothing lost, nothing doubled ----------------


def test_a5_uidvalidity_change_is_logged_once_and_loses_nothing(
    dovecot, imap_settings, make_settings, db_url, engine, clock, caplog
) -> None:
    mails = backlog(4, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "Support", mails[:2])
    settings = make_settings(db_url=db_url, inbox=imap_settings(folder="Support"))
    assert run(settings, engine, clock).processed == 2
    dovecot.recreate_folder("Support")
    with dovecot.imap_client() as client:
        append_all(client, "Support", mails)
    caplog.set_level(logging.INFO)

    stats = run(settings, engine, clock)

    alerts = [r for r in caplog.records if getattr(r, "action", "") == "uidvalidity-changed"]
    assert len(alerts) == 1 and alerts[0].levelno >= logging.WARNING, [r.getMessage() for r in caplog.records]
    assert "UIDVALIDITY" in alerts[0].getMessage()
    assert stats.actions == {"duplicate": 2, "ticketed": 2} and count(engine, Ticket) == 4
    assert len(dovecot.uids("Processed")) == 6, "nothing deleted: every copy was moved, none expunged"


# -- A8: the processed folder vanishes (MOVE answers NO): the ticket stays single ------------------------


def test_a8_processed_folder_deleted_between_passes_is_no_reticketing(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    mails = backlog(4, reply_every=100)
    settings = make_settings(db_url=db_url, inbox=imap_settings())
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails[:2])
    assert run(settings, engine, clock).processed == 2
    dovecot.delete_folder("Processed")  # an operator (or a client's cleanup) removes it
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails[2:])

    second = run(settings, engine, clock)
    third = run(settings, engine, clock)

    assert second.processed == 2 and (third.seen, third.processed) == (0, 0)
    assert count(engine, Ticket) == 4 and count(engine, Receipt) == 4
    assert dovecot.uids("INBOX") == [] and len(dovecot.uids("Processed")) == 2


# -- A14: a wrong password: the loop stays up, backs off, and says it once --------------------------------


async def test_a14_login_failures_back_off_and_are_said_once(
    dovecot, imap_settings, make_settings, db_url, engine, clock, caplog
) -> None:
    settings = make_settings(db_url=db_url, inbox=imap_settings(password="not-the-password"))
    poller = make_poller(App(settings, engine, clock))
    opens: list[float] = []
    real_open = poller.source.open

    def counting_open() -> None:
        opens.append(time.monotonic())
        real_open()

    poller.source.open = counting_open  # type: ignore[method-assign]
    loop = MailboxLoop(poller, engine, clock, settings)
    caplog.set_level(logging.INFO)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(6.5)
    assert not task.done(), "the worker stays up through a login failure"
    stop.set()
    await asyncio.wait_for(task, timeout=15)

    # Backoff 1, 2, 4 s...: at most 4 logins in 6.5 s (a tight loop would make hundreds).
    assert 2 <= len(opens) <= 4, opens
    gaps = [b - a for a, b in zip(opens, opens[1:], strict=False)]
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    said = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "trouble"]
    assert len(said) == 1 and "SourceAuthError" in said[0], said


# -- G60: the SLA clock starts at INTERNALDATE (arrival), not at the sender's Date header -----------------


def test_g60_sla_starts_at_internaldate_not_the_date_header(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    arrived = datetime(2026, 10, 5, 7, 12, 30, tzinfo=UTC)
    lying = mail("Renovar mi certificado", when=arrived - timedelta(days=3))  # a Date three days old
    dovecot.append("INBOX", bytes(lying), internaldate=arrived)
    clock.set(arrived + timedelta(hours=2))  # the worker sees it two hours later
    assert run(make_settings(db_url=db_url, inbox=imap_settings()), engine, clock).processed == 1
    with read_only(engine) as session:
        (ticket,) = repo.list_tickets(session)
    created = ticket.created_at.replace(tzinfo=UTC) if ticket.created_at.tzinfo is None else ticket.created_at
    due = ticket.response_due_at
    due = due.replace(tzinfo=UTC) if due.tzinfo is None else due
    assert created == arrived and due == arrived + timedelta(hours=24)


# -- D38: empty body, attachment only: still a ticket with something to read --------------------------


def test_d38_empty_body_and_attachment_only_mail_are_ticketed(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    empty = mail("Sin texto", body=None, sender="a@correo.example")
    only_pdf = mail("Adjunto el justificante", body=None, sender="b@correo.example")
    only_pdf.add_attachment(b"%PDF-1.4 justificante", maintype="application", subtype="pdf", filename="just.pdf")
    assert only_pdf.get_body(("plain", "html")) is None
    for raw in (bytes(empty), bytes(only_pdf)):
        dovecot.append("INBOX", raw)

    stats = run(make_settings(db_url=db_url, inbox=imap_settings()), engine, clock)

    assert stats.actions == {"ticketed": 2}
    with read_only(engine) as session:
        subjects = sorted(t.subject for t in repo.list_tickets(session))
        (att,) = session.scalars(select(AttachmentRow)).all()
    assert subjects == ["Adjunto el justificante", "Sin texto"]
    assert att.filename == "just.pdf" and att.size == len(b"%PDF-1.4 justificante")


# -- D41: absurd nesting and part counts are quarantined, and mail behind them flows ------------------------


def _nested(depth: int) -> bytes:
    head = "From: a@correo.example\r\nTo: soporte@ventanilla.example\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth))
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    return (head + opening + "Content-Type: text/plain\r\n\r\nhola\r\n" + closing).encode()


def _many_parts(n: int) -> bytes:
    parts = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(n))
    return (
        "From: b@correo.example\r\nTo: soporte@ventanilla.example\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts + "--b--\r\n"
    ).encode()


def test_d41_deep_nesting_and_ten_thousand_parts_are_quarantined_and_mail_flows(
    dovecot, imap_settings, make_settings, db_url, engine, clock
) -> None:
    good = backlog(1)[0]["raw"]
    for raw in (_nested(2000), _many_parts(10_000), good):
        dovecot.append("INBOX", raw)
    started = time.monotonic()
    stats = run(make_settings(db_url=db_url, inbox=imap_settings()), engine, clock)
    assert time.monotonic() - started < 30
    assert stats.quarantined == 2 and stats.actions.get("ticketed") == 1
    with read_only(engine) as session:
        reasons = sorted(r.reason for r in repo.quarantined(session))
    assert any("deep" in r for r in reasons) and any("parts" in r for r in reasons), reasons
    assert len(dovecot.uids("Quarantine")) == 2 and dovecot.uids("INBOX") == []


# -- D42: parse time bounded by limits.parse_seconds -------------------------------------------------------


def _slow_to_parse() -> bytes:
    """About two seconds of HTML-to-text work (five 880 KB bodies of nested lists)."""
    msg = EmailMessage()
    msg["From"] = "c@correo.example"
    msg["To"] = "soporte@ventanilla.example"
    msg["Subject"] = "slow"
    msg.set_content("<ul><li>" * 110_000, subtype="html")
    for _ in range(4):
        msg.add_attachment("<ul><li>" * 110_000, subtype="html", disposition="inline")
    return bytes(msg)


def test_d42_a_parse_longer_than_parse_seconds_is_not_ticketed(make_settings, db_url, engine, clock) -> None:
    settings = make_settings(db_url=db_url)
    limits = settings.limits.model_copy(update={"parse_seconds": 0.2})
    settings = settings.model_copy(update={"limits": limits})
    deliver_to_maildir(settings.inbox.path, _slow_to_parse())
    started = time.monotonic()
    make_poller(App(settings, engine, clock), MaildirSource(settings.inbox)).run_once()
    took = time.monotonic() - started
    with read_only(engine) as session:
        statuses = list(session.scalars(select(Receipt.status)))
    assert statuses and statuses != ["ticketed"], "a parse over the limit must not become a ticket"
    assert took < 1.5, f"the pass waited {took:.1f} s for a parse limited to 0.2 s"


# -- F55: remote content in HTML is never fetched (a loopback canary counts requests) ----------------------


class _Canary(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Canary.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_f55_remote_urls_in_html_are_never_requested(
    make_settings, db_url, engine, clock, smtp_sink: SmtpSink
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Canary.hits = []
    base = f"http://127.0.0.1:{server.server_address[1]}"
    html = (
        f'<html><head><link rel="stylesheet" href="{base}/css"><base href="{base}/base/">'
        f'<meta http-equiv="refresh" content="0; url={base}/refresh"></head>'
        f'<body style="background:url({base}/bg)"><p>Hola, no puedo firmar.</p>'
        f'<img src="{base}/img.png"><img src="http://169.254.169.254/latest/meta-data/">'
        f'<img src="file:///etc/passwd"><svg onload="fetch(\'{base}/svg\')"></svg>'
        f'<a href="{base}/link">captura</a><iframe src="{base}/frame"></iframe></body></html>'
    )
    msg = mail("No puedo firmar", body=None)
    msg.set_content(html, subtype="html")
    try:
        desk = Desk(smtp_settings(make_settings, db_url, smtp_sink.port), engine, clock)
        result = desk.receive(bytes(msg))
        await desk.drain()  # the ack and the agents' notifications (the user's text in them) are rendered and sent
        await desk.close()
        await asyncio.sleep(0.3)
    finally:
        server.shutdown()
        server.server_close()
    assert result.action == "ticketed" and len(smtp_sink.received) >= 2
    assert _Canary.hits == [], _Canary.hits


# -- F57: a decompression bomb is stored as the opaque blob it is ------------------------------------------


def test_f57_zip_bomb_attachment_is_stored_opaque_never_inflated(make_settings, db_url, engine, clock) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(512):  # 512 MB once inflated
                member.write(chunk)
    bomb = buffer.getvalue()
    assert len(bomb) < 1024 * 1024
    msg = mail("Adjunto copia", body="Les adjunto la copia de seguridad.")
    msg.add_attachment(bomb, maintype="application", subtype="zip", filename="copia.zip")
    png = _png_bomb()
    msg.add_attachment(png, maintype="image", subtype="png", filename="captura.png")
    settings = make_settings(db_url=db_url)
    deliver_to_maildir(settings.inbox.path, bytes(msg))

    started = time.monotonic()
    stats = make_poller(App(settings, engine, clock), MaildirSource(settings.inbox)).run_once()
    assert stats.actions == {"ticketed": 1} and time.monotonic() - started < 20
    with read_only(engine) as session:
        att, image = session.scalars(select(AttachmentRow).order_by(AttachmentRow.id)).all()
        stored = repo.get_blob(session, att.sha256)
        stored_image = repo.get_blob(session, image.sha256)
        texts = list(session.scalars(select(Message.text).where(Message.direction == "in")))
    assert att.size == len(bomb) and att.sha256 == hashlib.sha256(bomb).hexdigest() and stored == bomb
    assert image.size == len(png) and stored_image == png, "no thumbnail, no re-encoding"
    assert texts == ["Les adjunto la copia de seguridad."]


def _png_bomb() -> bytes:
    """A 20000 x 20000 greyscale PNG (400 MB of pixels once decoded) in about 400 KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    side = 20_000
    packer = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    pixels = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
