"""Phone calls: follow-ups through the outbox, the response clock, missed calls, CSV import."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from config.sla import SlaSettings
from tickets.db import make_engine, read_only, unit_of_work
from tickets.ingest import service
from tickets.migrate import upgrade
from tickets.models import Message, Outbox, Ticket
from tickets.phone import calls as phone
from tickets.phone import log_csv as phone_csv
from tickets.phone.models import Call
from tickets.report.queries import monthly_report
from tickets.sla.policy import SlaPolicy
from tickets.values import Address, IncomingMessage, ReceiptKey
from ventanilla.cli import app
from ventanilla.phone_cli import phone_policy
from ventanilla.pipeline.outgoing import OutgoingQueue

ARRIVED = datetime(2013, 10, 7, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(make_settings, db_url):  # type: ignore[no-untyped-def]
    return make_settings(db_url=db_url)


def _email(engine, sender: str) -> int:  # type: ignore[no-untyped-def]
    msg = IncomingMessage(
        message_id=f"<{sender}>", sender=Address(name="Ana", email=sender), subject="Certificado",
        text="Hola, no puedo descargar mi certificado", raw_sha256=f"{abs(hash(sender)):064d}",
    )
    sla = SlaPolicy.from_settings(SlaSettings())
    policy = service.IngestPolicy(helpdesk_address="soporte@ventanilla.example", own_addresses=frozenset(), sla=sla)
    with unit_of_work(engine) as session:
        result = service.ingest(session, key=ReceiptKey(mailbox="m", uidvalidity=1, uid=1), raw=b"x", msg=msg,
                                arrived_at=ARRIVED, now=ARRIVED, policy=policy)
    assert result.ticket_id is not None
    return result.ticket_id


def _log(engine, settings, call: phone.CallRecord, now: datetime) -> phone.CallResult:  # type: ignore[no-untyped-def]
    queue = OutgoingQueue(settings)
    with unit_of_work(engine) as session:
        result = phone.record_call(session, call, now=now, policy=phone_policy(settings))
        for intent in result.outgoing:
            queue(session, intent, now)
    return result


def _outbox(engine, kind: str) -> list[Outbox]:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        return list(session.scalars(select(Outbox).where(Outbox.kind == kind)))


def test_call_from_a_caller_with_an_open_ticket_answers_it(engine, settings) -> None:
    ticket_id = _email(engine, "ana@correo.example")
    started = ARRIVED + timedelta(hours=30)
    call = phone.CallRecord(started_at=started, caller_email="ANA@correo.example", agent="luis@ventanilla.example",
                            summary="Revisamos la descarga del certificado.")
    result = _log(engine, settings, call, now=started + timedelta(days=3))
    assert (result.action, result.ticket_id) == ("recorded", ticket_id)
    with read_only(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None and ticket.first_answered_at == started and ticket.status == "pending"
        kinds = [m.kind for m in session.scalars(select(Message).where(Message.ticket_id == ticket_id))]
        report = monthly_report(session, month="2013-10", timezone="Europe/Madrid")
    assert "phone" in kinds and "phone_followup" in kinds
    (mail,) = _outbox(engine, "phone_followup")
    assert mail.recipients == "ana@correo.example" and f"[#{ticket_id}]".encode() in mail.raw
    # timed from the email's arrival to the call's start (30 h), not to when it was logged
    assert (report.answers, report.answers_by_phone, report.under_24h.count, report.under_48h.count) == (1, 1, 0, 1)
    again = _log(engine, settings, call, now=started + timedelta(days=4))
    assert again.action == "duplicate" and len(_outbox(engine, "phone_followup")) == 1


def test_call_from_a_new_caller_creates_a_ticket(engine, settings) -> None:
    call = phone.CallRecord(started_at=ARRIVED, caller_email="new@correo.example", caller_name="Nuevo",
                            agent="ana", summary="Quiero revocar mi certificado", line="revocation")
    result = _log(engine, settings, call, now=ARRIVED)
    with read_only(engine) as session:
        ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None and ticket.requester_email == "new@correo.example"
    assert ticket.category == "revocation" and ticket.first_answered_at == ARRIVED
    assert len(_outbox(engine, "phone_followup")) == 1


@pytest.mark.parametrize("outcome", ["lost", "abandoned"])
def test_missed_call_with_an_address_gets_a_ticket_and_the_missed_call_mail(engine, settings, outcome) -> None:
    call = phone.CallRecord(started_at=ARRIVED, outcome=outcome, caller_email="who@correo.example", wait_seconds=90)
    result = _log(engine, settings, call, now=ARRIVED)
    assert result.ticket_id is not None and [i.kind for i in result.outgoing] == ["missed_call"]
    with read_only(engine) as session:
        ticket = session.get(Ticket, result.ticket_id)
    assert ticket is not None and ticket.status == "open" and ticket.first_answered_at is None
    assert [m.recipients for m in _outbox(engine, "missed_call")] == ["who@correo.example"]
    nobody = phone.CallRecord(started_at=ARRIVED, outcome=outcome, caller_phone="+34 600")
    assert _log(engine, settings, nobody, now=ARRIVED).ticket_id is None


def test_parse_row_reports_what_is_wrong() -> None:
    good = phone_csv.parse_row({"started_at": "2013-10-01T09:00:00+02:00", "outcome": "Answered", "wait_seconds": "30"})
    assert good.started_at == datetime(2013, 10, 1, 7, 0, tzinfo=UTC) and good.outcome == "answered"
    for row, error in (
        ({"started_at": "2013-10-01T09:00:00", "outcome": "answered"}, "time zone"),
        ({"started_at": "yesterday", "outcome": "answered"}, "ISO"),
        ({"started_at": "2013-10-01T09:00:00Z", "outcome": "hung"}, "outcome"),
        ({"started_at": "2013-10-01T09:00:00Z", "outcome": "lost", "wait_seconds": "x"}, "wait_seconds"),
        ({"started_at": "2013-10-01T09:00:00Z", "outcome": "lost", "caller_email": "nope"}, "caller_email"),
    ):
        with pytest.raises(phone.CallError, match=error):
            phone_csv.parse_row(row)


CSV = """started_at,line,outcome,wait_seconds,duration_seconds,caller_phone,caller_email,agent,summary
2013-10-01T09:00:00+02:00,general,answered,30,200,+34 600 1,a@correo.example,ana,Resolvimos la descarga
2013-10-01T09:05:00+02:00,general,lost,10,0,+34 600 2,,,
not-a-date,general,answered,30,200,+34 600 3,,ana,
2013-10-01T09:10:00+02:00,general,abandoned,95,0,+34 600 4,b@correo.example,,
2013-10-01T09:15:00+02:00,general,ringing,5,0,+34 600 5,,,
"""


def _config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "v.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[inbox]\nkind = "maildir"\npath = "{tmp_path}/maildir"\n'
        f'[outbound]\nkind = "file"\npath = "{tmp_path}/sent"\n[helpdesk]\nagents = ["ana@ventanilla.example"]\n'
        'secret = "a-test-secret-that-is-long-enough-0123"\n'
    )
    return path


@pytest.fixture
def cli_db(tmp_path):  # type: ignore[no-untyped-def]
    """The CLI keeps its engine for the process: SQLite, so no server connection outlives the test."""
    url = f"sqlite:///{tmp_path}/cli.db"
    engine = make_engine(url)
    upgrade(engine)
    yield engine, url
    engine.dispose()


def test_import_is_idempotent_and_reports_bad_rows_by_line(cli_db, tmp_path) -> None:
    engine, db_url = cli_db
    log = tmp_path / "calls.csv"
    log.write_text(CSV)
    config = _config(tmp_path, db_url)
    runner = CliRunner()
    # A file with bad rows is refused whole: each bad row named, exit 2, nothing written (issue 12
    # item 18; bad rows used to be skipped and the rest imported, exit 1).
    first = runner.invoke(app, ["--config", str(config), "phone", "import", str(log)])
    assert first.exit_code == 2, first.output
    assert "calls.csv line 4: started_at:" in first.output and "calls.csv line 6: outcome:" in first.output
    assert "nothing imported: 2 bad rows" in first.output
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 0
    log.write_text("".join(line for n, line in enumerate(CSV.splitlines(keepends=True), 1) if n not in (4, 6)))
    fixed = runner.invoke(app, ["--config", str(config), "phone", "import", str(log)])
    assert fixed.exit_code == 0 and "3 recorded" in fixed.output, fixed.output
    second = runner.invoke(app, ["--config", str(config), "phone", "import", str(log)])
    assert "0 recorded, 3 already known" in second.output
    with read_only(engine) as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 3
        kinds = sorted(o.kind for o in session.scalars(select(Outbox)))
    assert kinds == ["missed_call", "phone_followup"]


def test_phone_log_command_reuses_the_callers_ticket(cli_db, tmp_path) -> None:
    engine, db_url = cli_db
    ticket_id = _email(engine, "ana@correo.example")
    config = _config(tmp_path, db_url)
    result = CliRunner().invoke(app, [
        "--config", str(config), "phone", "log", "--email", "ana@correo.example", "--agent", "ana@ventanilla.example",
        "--summary", "Hablamos de la renovación.", "--started-at", "2013-10-07T12:00:00+02:00",
    ])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(str(ticket_id))
    assert len(_outbox(engine, "phone_followup")) == 1
