"""A month written with known totals through the product's paths: the report prints exactly those."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from bench.month import expected, generate, october2013
from config.sla import SlaSettings
from mailer.report_render import render
from tests.conftest import TEST_SECRET
from tickets.agents import actions as agent_actions
from tickets.agents.mail import agent_policy
from tickets.db import read_only, unit_of_work
from tickets.ingest import service
from tickets.report.queries import monthly_report
from tickets.sla.policy import SlaPolicy
from tickets.values import Address, IncomingMessage, ReceiptKey

SLA = SlaPolicy.from_settings(SlaSettings())

ZONE = "Europe/Madrid"


@pytest.fixture
def october(engine):  # type: ignore[no-untyped-def]
    spec = october2013(0.01)
    generate(engine, spec)
    with read_only(engine) as session:
        return spec, monthly_report(session, month=spec.month, timezone=ZONE)


def test_generated_month_gives_the_known_figures(october) -> None:
    spec, report = october
    want = expected(spec)
    assert report.emails_received == want["emails_received"] == 88
    assert report.answers == want["answers"] == 111
    assert report.answered_ratio_pct == want["answered_ratio_pct"]
    for name in ("escalated", "other_actions", "escalated_waiting", "under_24h", "under_48h", "over_48h"):
        assert getattr(report, name) == want[name], name
    for name in ("attended", "lost", "abandoned"):
        assert getattr(report, name) == want[name], name
    assert report.calls == want["calls"]
    assert report.quiet_windows == want["quiet_windows"] == ("08:00–10:30", "13:30–17:00", "18:00–19:00")
    assert report.peak_wait_seconds == want["peak_wait_seconds"] == 150.0
    assert dict(report.categories) == want["categories"]
    assert sum(d.emails for d in report.daily) == 88 and len(report.daily) == 31


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_format_prints_the_figures(october, lang: str) -> None:
    spec, report = october
    want = expected(spec)
    sep = "," if lang == "es" else "."
    pct = (lambda s: f"{s.pct:.2f}".replace(".", sep) + (" %" if lang == "es" else "%"))  # noqa: E731
    text, html = render(report, "text", lang), render(report, "html", lang)
    for needle in (
        f"{pct(want['under_24h'])} ({want['under_24h'].count})",
        f"{pct(want['under_48h'])} ({want['under_48h'].count})",
        f"{pct(want['attended'])} / {pct(want['lost'])} / {pct(want['abandoned'])}",
        "08:00–10:30, 13:30–17:00, 18:00–19:00",
        f"{pct(want['escalated'])} ({want['escalated'].count})",
        f"2{sep}5 min",
        "126 %" if lang == "es" else "126%",
    ):
        assert needle in text, needle
        assert needle in html, needle
    assert "<script" not in html and "src=" not in html and "<link" not in html
    data = json.loads(render(report, "json", lang))
    assert (data["emails_received"], data["answers"], data["under_24h"]) == (88, 111, {"count": 108, "pct": 97.3})
    rows = {r.split(",")[0]: r.split(",") for r in render(report, "csv", lang).splitlines()}
    assert rows["emails_received"][2] == "88" and rows["answers"][2:4] == ["111", "126.14"]
    assert rows["under_24h"][2:4] == ["108", "97.30"] and rows["attended"][2:4] == ["68", "85.00"]


def test_empty_month_is_all_zero(engine) -> None:
    with read_only(engine) as session:
        report = monthly_report(session, month="2013-02", timezone=ZONE)
    assert (report.emails_received, report.answers, report.calls, report.quiet_windows) == (0, 0, 0, ())
    assert report.under_24h.pct == 0.0 and len(report.daily) == 28
    for fmt in ("text", "json", "csv", "html"):
        assert render(report, fmt, "es")


def _mail(engine, n: int, arrived: datetime, *, now: datetime | None = None) -> int:  # type: ignore[no-untyped-def]
    msg = IncomingMessage(
        message_id=f"<edge{n}@correo.example>",
        sender=Address(name="", email=f"edge{n}@correo.example"),
        subject="Certificado",
        text="Hola, no puedo descargar mi certificado",
        raw_sha256=f"{n:064d}",
    )
    policy = service.IngestPolicy(helpdesk_address="soporte@ventanilla.example", own_addresses=frozenset(), sla=SLA)
    with unit_of_work(engine) as session:
        result = service.ingest(
            session, key=ReceiptKey(mailbox="edge", uidvalidity=1, uid=n), raw=b"x", msg=msg,
            arrived_at=arrived, now=now or arrived, policy=policy,
        )
    assert result.ticket_id is not None
    return result.ticket_id


def _reply(engine, ticket_id: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    from config.settings import HelpdeskSettings

    policy = agent_policy(HelpdeskSettings(agents=["ana@ventanilla.example"], secret=TEST_SECRET), sla=SLA)
    with unit_of_work(engine) as session:
        agent_actions.reply(session, ticket_id, "ana@ventanilla.example", "Hola, respuesta.", at, policy)


def test_month_boundary_is_local_and_old_messages_answered_this_month_count(engine) -> None:
    # 22:30 UTC on 30 September is 00:30 on 1 October in Madrid: an October email.
    local_october = _mail(engine, 1, datetime(2013, 9, 30, 22, 30, tzinfo=UTC))
    september = _mail(engine, 2, datetime(2013, 9, 29, 10, 0, tzinfo=UTC))
    _reply(engine, september, datetime(2013, 10, 1, 9, 0, tzinfo=UTC))  # 47 h after arrival
    _reply(engine, local_october, datetime(2013, 10, 31, 23, 30, tzinfo=UTC))  # 00:30 on 1 Nov in Madrid
    with read_only(engine) as session:
        october = monthly_report(session, month="2013-10", timezone=ZONE)
        september_report = monthly_report(session, month="2013-09", timezone=ZONE)
        november = monthly_report(session, month="2013-11", timezone=ZONE)
    assert (october.emails_received, october.answers) == (1, 1)
    assert (october.under_24h.count, october.under_48h.count) == (0, 1)
    assert (september_report.emails_received, september_report.answers) == (1, 0)
    assert (november.answers, november.over_48h.count) == (1, 1)


def test_backlog_processed_late_gives_the_same_figures(engine) -> None:
    arrived = datetime(2013, 10, 10, 8, 0, tzinfo=UTC)
    late = datetime(2013, 11, 20, 8, 0, tzinfo=UTC)  # the worker saw the backlog weeks later
    ticket = _mail(engine, 3, arrived, now=late)
    _reply(engine, ticket, arrived + timedelta(hours=30))
    with read_only(engine) as session:
        report = monthly_report(session, month="2013-10", timezone=ZONE)
    assert (report.emails_received, report.answers, report.under_24h.count, report.under_48h.count) == (1, 1, 0, 1)
