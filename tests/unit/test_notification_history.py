"""The agent notification lists the requester's earlier tickets (customer history, issue 13)."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailer.templating import TemplateRenderer
from tests.samples import sample_values as sample_context
from tickets.mail_context import EarlierTicket

SATURDAY_AFTERNOON = datetime(2026, 5, 2, 13, 0, tzinfo=UTC)
RENDERER = TemplateRenderer()


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_agent_notification_lists_the_requesters_earlier_tickets(language: str) -> None:
    context = sample_context("agent_notification", SATURDAY_AFTERNOON)
    local = SATURDAY_AFTERNOON.astimezone(ZoneInfo("Europe/Madrid"))
    earlier = (
        EarlierTicket(id=1200, subject="Renovación <urgente>", status="closed", created_at=local),
        EarlierTicket(id=1100, subject="Otra consulta", status="resolved", created_at=local),
    )
    context["history"] = earlier
    out = RENDERER.render("agent_notification", language, context)
    closed, resolved = ("cerrada", "resuelta") if language == "es" else ("closed", "resolved")
    assert f"[#1200] 2026-05-02 {closed}: Renovación <urgente>" in out.text
    assert f"[#1100] 2026-05-02 {resolved}: Otra consulta" in out.text
    assert f"[#1200] 2026-05-02 {closed}: Renovación &lt;urgente&gt;" in out.html
    without = RENDERER.render("agent_notification", language, sample_context("agent_notification", SATURDAY_AFTERNOON))
    assert "[#1200]" not in without.text and "(last" not in without.text and "(últimas" not in without.text
