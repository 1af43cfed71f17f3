"""F56: the sender of a message too large to take is told, once, in their language, with both
sizes; never a robot, a list or our own address; never more than the acknowledgement cap allows.
Only the header is read (Maildir here; IMAP fetches BODY.PEEK[HEADER] the same way)."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

from sqlalchemy import select

from mailer.maildir import deliver_to_maildir
from tests.mailgen import message
from tickets import repository as repo
from tickets.db import read_only
from tickets.models import Outbox
from ventanilla.app import App
from ventanilla.wiring import make_poller

LIMIT = 20_000


def _settings(make_settings, db_url):  # type: ignore[no-untyped-def]
    settings = make_settings(db_url=db_url)
    return settings.model_copy(update={"limits": settings.limits.model_copy(update={"max_message_bytes": LIMIT})})


def _big(index: int, sender: str, *, headers: str = "", subject: str = "Adjunto las capturas del error") -> bytes:
    _, raw = message(
        index=index, sender=sender, subject=subject,
        body="Hola, adjunto las capturas del error.\n" + "A" * 30_000,
        when=datetime.now(UTC) - timedelta(minutes=1),
    )
    return raw.replace(b"Subject:", headers.encode() + b"Subject:", 1) if headers else raw


def _notices(engine) -> list[Outbox]:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        return list(session.scalars(select(Outbox).where(Outbox.kind == "too_large")))


def test_f56_the_sender_of_an_oversized_message_is_told_once(make_settings, db_url, engine, clock) -> None:
    settings = _settings(make_settings, db_url)
    deliver_to_maildir(settings.inbox.path, _big(1, "maria@correo.example"))
    stats = make_poller(App(settings, engine, clock)).run_once()
    assert stats.quarantined == 1
    (notice,) = _notices(engine)
    assert notice.recipients == "maria@correo.example" and notice.ticket_id is None
    mail = message_from_bytes(notice.raw, policy=default)
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "no lo hemos recibido" in str(mail["Subject"]) and str(mail["Auto-Submitted"]) == "auto-replied"
    assert "«Adjunto las capturas del error» ocupa " in text and "es de 19,5 KB" in text
    with read_only(engine) as session:
        (row,) = repo.quarantined(session)
    assert row.reason.startswith("too large") and row.reason.endswith("sender told")
    assert (row.sender, row.subject) == ("maria@correo.example", "Adjunto las capturas del error")
    assert row.message_id.startswith("<") and row.size > LIMIT
    make_poller(App(settings, engine, clock)).run_once()
    assert len(_notices(engine)) == 1, "told once"


def test_f56_no_notice_to_robots_lists_or_ourselves_and_at_most_the_cap(make_settings, db_url, engine, clock) -> None:
    settings = _settings(make_settings, db_url)
    cases = [
        _big(1, "noreply@banco.example"),
        _big(2, "robot@correo.example", headers="Auto-Submitted: auto-generated\r\n"),
        _big(3, "lista@correo.example", headers="List-Id: <avisos.correo.example>\r\nPrecedence: list\r\n"),
        _big(4, "soporte@ventanilla.example"),
        *[_big(10 + i, "pedro@correo.example") for i in range(8)],
    ]
    for raw in cases:
        deliver_to_maildir(settings.inbox.path, raw)
    assert make_poller(App(settings, engine, clock)).run_once().quarantined == len(cases)
    notices = _notices(engine)
    assert [n.recipients for n in notices] == ["pedro@correo.example"] * settings.outbound.acks_per_sender_per_hour
    with read_only(engine) as session:
        reasons = sorted(r.reason.split("; ", 1)[1] for r in repo.quarantined(session))
    assert sum(r.startswith("no notice: rate limit") for r in reasons) == 8 - settings.outbound.acks_per_sender_per_hour
    assert all(r == "sender told" or r.startswith("no notice") for r in reasons), reasons
