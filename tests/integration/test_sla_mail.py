"""SLA mail through the real outbox queue, the daily digest, the scheduler and the `sla` CLI."""

import asyncio
import email
import email.policy
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from config.settings import HelpdeskSettings
from scheduler.jobs import run_daily_digest, run_sla_sweep
from scheduler.wiring import make_scheduler
from tickets.clock import FakeClock, SystemClock
from tickets.db import read_only, unit_of_work
from tickets.models import Message, Outbox, Ticket
from tickets.sla.sweep import SweepPolicy
from ventanilla.app import App

START = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
SUPERVISORS = ["sup1@ventanilla.example", "sup2@ventanilla.example"]


def settings_for(make_settings, db_url: str):  # type: ignore[no-untyped-def]
    helpdesk = HelpdeskSettings(address="soporte@ventanilla.example", supervisors=SUPERVISORS, language="en")
    return make_settings(db_url=db_url, helpdesk=helpdesk)


def add_ticket(engine: Engine, policy: SweepPolicy, start: datetime = START, **fields: object) -> int:
    cycle = policy.sla.cycle("normal", number=1, start=start)
    response_due, hard_due = cycle.response_due_at, cycle.hard_due_at
    with unit_of_work(engine) as session:
        ticket = Ticket(  # type: ignore[arg-type]
            requester_email="ana@correo.example", subject="Certificado", created_at=start, updated_at=start,
            cycle_started_at=start, response_due_at=response_due, hard_due_at=hard_due, **fields,
        )
        session.add(ticket)
        session.flush()
        assert ticket.id is not None
        session.add(Message(ticket_id=ticket.id, direction="in", kind="user", message_id=f"<t{ticket.id}@x>",
                            created_at=start))
        return ticket.id


def outbox(engine: Engine, kind: str) -> list[email.message.EmailMessage]:
    with read_only(engine) as session:
        rows = session.scalars(select(Outbox).where(Outbox.kind == kind).order_by(Outbox.id)).all()
    return [email.message_from_bytes(r.raw, policy=email.policy.default) for r in rows]  # type: ignore[misc]


def test_alert_mail_is_grouped_threaded_and_auto_generated(engine: Engine, db_url: str, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(make_settings, db_url)
    policy = SweepPolicy.from_settings(settings)
    mine = add_ticket(engine, policy, assigned_agent="luis@ventanilla.example")
    add_ticket(engine, policy)
    run_sla_sweep(App(settings, engine, SystemClock()), now=START + timedelta(hours=25), policy=policy)
    mails = outbox(engine, "sla_alert")
    assert sorted(m["To"] for m in mails) == sorted([*SUPERVISORS, "luis@ventanilla.example"])
    for mail in mails:
        assert mail["Auto-Submitted"] == "auto-generated"
    agent = next(m for m in mails if m["To"] == "luis@ventanilla.example")
    assert agent["In-Reply-To"] == f"<t{mine}@x>"
    assert agent["Subject"].startswith(f"[#{mine}] 24 h deadline missed")
    supervisor = next(m for m in mails if m["To"] == SUPERVISORS[0])
    assert supervisor["In-Reply-To"] is None and "4 alerts on 2 tickets" in supervisor["Subject"]
    body = supervisor.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "ana@correo.example" in body and "Missed its 24-hour deadline" in body


def test_daily_digest_once_per_day_with_yesterdays_breaches(engine: Engine, db_url: str, make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(make_settings, db_url)
    policy = SweepPolicy.from_settings(settings)
    jobs = App(settings, engine, SystemClock())
    breached = add_ticket(engine, policy)
    due_today = add_ticket(engine, policy, START + timedelta(hours=36))  # 24 h limit: Wednesday 22:00 in Madrid
    run_sla_sweep(jobs, now=START + timedelta(hours=24), policy=policy)
    morning = datetime(2026, 10, 7, 6, 0, tzinfo=UTC)  # 08:00 in Madrid, the day after the breach
    assert run_daily_digest(jobs, now=morning, policy=policy) == 2
    assert run_daily_digest(jobs, now=morning + timedelta(minutes=5), policy=policy) == 2
    mails = outbox(engine, "digest")
    assert len(mails) == 2  # the second run the same day was keyed to the same rows
    body = mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"[#{breached}]" in body and "Breached yesterday" in body
    assert "Due today" in body and f"[#{due_today}]" in body


async def test_scheduler_catches_up_at_start_and_shuts_down(sqlite_engine: Engine, make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(make_settings, f"sqlite:///{tmp_path}/unit.db")
    policy = SweepPolicy.from_settings(settings)
    add_ticket(sqlite_engine, policy)
    clock = FakeClock(START + timedelta(days=3))
    scheduler = make_scheduler(settings, App(settings, sqlite_engine, clock), clock)
    defaults = scheduler.scheduler._job_defaults  # noqa: SLF001
    assert defaults["coalesce"] is True and defaults["max_instances"] == 1
    scheduler.start()
    try:
        assert {j.id for j in scheduler.scheduler.get_jobs()} >= {"sla-sweep", "sla-digest", "monthly-report"}
        for _ in range(100):
            if outbox(sqlite_engine, "sla_alert"):
                break
            await asyncio.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert len(outbox(sqlite_engine, "sla_alert")) == 2  # one catch-up email per supervisor


def test_cli_sweep_and_status(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tickets.db import make_engine
    from tickets.migrate import upgrade
    from ventanilla.cli import app

    db = tmp_path / "cli.db"
    config = tmp_path / "cfg.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n[outbound]\nkind = "file"\npath = "{tmp_path}/out"\n'
        '[helpdesk]\nsupervisors = ["sup@ventanilla.example"]\n'
    )
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    from config.settings import load_settings

    policy = SweepPolicy.from_settings(load_settings(config)[0])
    ticket_id = add_ticket(engine, policy)
    engine.dispose()
    runner = CliRunner()
    swept = runner.invoke(app, ["-c", str(config), "sla", "sweep", "--now", "2026-10-06T09:00:00+00:00"])
    assert swept.exit_code == 0, swept.output
    assert "2 alerts" in swept.output
    shown = runner.invoke(app, ["-c", str(config), "sla", "status", "--json", "--now", "2026-10-06T09:00:00+00:00"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert rows[0]["ticket_id"] == ticket_id and rows[0]["next_threshold"] == "warn-48h"
    assert rows[0]["left_hours"] == 23.0
    table = runner.invoke(app, ["-c", str(config), "sla", "status", "--now", "2026-10-06T09:00:00+00:00"])
    assert table.exit_code == 0 and "Waiting for us" in table.output
