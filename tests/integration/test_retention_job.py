"""`[retention] raw_days`: the scheduler's daily purge (SQLite and PostgreSQL), and its cut-off."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from config.retention import RetentionSettings
from scheduler.jobs import retention_cutoff, run_retention
from scheduler.wiring import make_scheduler
from tests.integration.test_ingest_service import ARRIVED, incoming, ingest
from tickets.clock import FakeClock
from tickets.db import read_only, unit_of_work
from tickets.models import AttachmentRow, Blob, Receipt, Ticket
from tickets.values import Attachment
from ventanilla.app import App

PDF = b"%PDF-1.4 justificante " * 100


def _close(engine, ticket_id: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        table = Ticket.__table__  # type: ignore[attr-defined]
        closing = update(table).where(table.c.id == ticket_id).values(status="closed", updated_at=at)
        session.connection().execute(closing)


def _bytes_left(engine, ticket_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(raw bytes of the ticket's receipts, attachment rows of the ticket's messages)."""
    with read_only(engine) as session:
        raw = session.scalar(
            select(func.coalesce(func.sum(Blob.size), 0)).where(
                Blob.sha256 == Receipt.raw_sha256, Receipt.ticket_id == ticket_id
            )
        )
        files = session.scalar(select(func.count()).select_from(AttachmentRow))
    return int(raw or 0), int(files or 0)


def test_the_daily_job_purges_tickets_closed_before_raw_days_only(engine, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(db_url=str(engine.url), retention=RetentionSettings(raw_days=30))
    files = (Attachment(filename="dni.pdf", content_type="application/pdf", data=PDF),)
    old = ingest(engine, incoming(sender="marta@correo.example", attachments=files)).ticket_id
    recent = ingest(engine, incoming(sender="pablo@correo.example")).ticket_id
    now = ARRIVED + timedelta(days=60)
    _close(engine, old, ARRIVED + timedelta(days=2))
    _close(engine, recent, now - timedelta(days=29))
    clock = FakeClock(now)
    app = App(settings, engine, clock)

    counts = run_retention(app, now=now, raw_days=30, zone="Europe/Madrid")
    assert counts["tickets"] == 1 and counts["raw messages"] == 1 and counts["attachments"] == 1
    assert _bytes_left(engine, old) == (0, 0)
    assert _bytes_left(engine, recent)[0] > 0, "closed 29 days ago: kept"
    assert run_retention(app, now=now, raw_days=30, zone="Europe/Madrid")["raw messages"] == 0, "idempotent"
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2

    scheduler = make_scheduler(settings, app, clock)
    assert scheduler.scheduler.get_job("retention") is not None
    off = make_scheduler(make_settings(db_url=str(engine.url)), app, clock)
    assert off.scheduler.get_job("retention") is None, "raw_days = 0: no purge"


def test_the_cutoff_is_the_start_of_a_local_day() -> None:
    now = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 1 April 00:30 in Madrid (summer time)
    cut = retention_cutoff(now, raw_days=30, zone="Europe/Madrid")
    assert cut.isoformat() == "2026-03-02T00:00:00+01:00"
