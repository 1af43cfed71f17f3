"""Templates: every kind in es and en, fallback, operator overrides, escaping."""

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest

from mailer.errors import TemplateFailedError
from mailer.templating import KINDS, PACKAGED_PATH, TemplateMissingError, TemplateRenderer
from tests.samples import sample_values as sample_context
from tickets.mail_context import CONTEXT_OF_KIND, AckContext, AgentNotificationContext

SATURDAY_AFTERNOON = datetime(2026, 5, 2, 13, 0, tzinfo=UTC)  # 15:00 in Madrid, phone closed
MONDAY_MORNING = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # 10:00 in Madrid, phone open
RENDERER = TemplateRenderer()


def _files(language: str) -> set[str]:
    return {p.name for p in (PACKAGED_PATH / language).iterdir() if p.is_file()}


def test_both_languages_have_the_same_files() -> None:
    assert _files("es") == _files("en")


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_both_languages(kind: str, language: str) -> None:
    assert RENDERER.has(kind, language)
    out = RENDERER.render(kind, language, sample_context(kind, SATURDAY_AFTERNOON))
    assert out.language == language
    assert out.subject and "\n" not in out.subject
    assert out.text.strip() and "{{" not in out.text and "{%" not in out.text
    assert f'<html lang="{language}">' in out.html and "</html>" in out.html
    if kind not in ("digest", "too_large"):  # a mail of no ticket
        assert "[#1234]" in out.subject


def test_ack_in_spanish_when_the_phone_is_closed() -> None:
    out = RENDERER.render("ack", "es", sample_context("ack", SATURDAY_AFTERNOON))
    assert out.subject == "[#1234] No puedo exportar mi certificado"
    assert "en un plazo de 24 horas" in out.text
    assert "Llame al +34 900 000 000." in out.text
    assert "Horario del teléfono hoy: 09:00–14:00." in out.text
    assert "vuelve a abrir el lunes 4 de mayo a las 09:00" in out.text
    assert "+34 900 000 024, disponible las 24 horas" in out.text
    assert "responda a este mensaje sin cambiar el asunto" in out.text
    assert "https://faq.example/export" in out.text
    assert "vuelve a abrir el lunes 4 de mayo a las 09:00" in out.html


def test_ack_in_english_when_the_phone_is_open() -> None:
    out = RENDERER.render("ack", "en", sample_context("ack", MONDAY_MORNING))
    assert "within 24 hours" in out.text
    assert "Phone line hours today: 09:00–21:00. It is open now." in out.text
    assert "opens again" not in out.text
    assert "+34 900 000 024" in out.text and "24 hours a day" in out.text


def test_html_is_escaped_and_text_is_not() -> None:
    context = sample_context("ack", SATURDAY_AFTERNOON)
    context["requester"] = {"name": "<script>alert(1)</script>", "email": "x@example.org"}
    context["ticket"] = replace(context["ticket"], subject='"><img src=x onerror=alert(1)>')  # type: ignore[type-var]
    out = RENDERER.render("ack", "es", context)
    assert "<script>" not in out.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert "<img" not in out.html
    assert "Hola <script>alert(1)</script>:" in out.text


def test_a_missing_value_is_a_template_error_naming_the_template_and_the_value() -> None:
    context = sample_context("ack", SATURDAY_AFTERNOON)
    del context["phone"]
    with pytest.raises(TemplateFailedError, match=r"template es/ack: 'phone' is undefined") as raised:
        RENDERER.render("ack", "es", context)
    assert isinstance(raised.value.__context__, jinja2.UndefinedError)


def test_unknown_language_falls_back_to_the_default() -> None:
    out = RENDERER.render("ack", "fr", sample_context("ack", SATURDAY_AFTERNOON))
    assert out.language == "es" and "Hemos recibido su consulta" in out.text
    assert RENDERER.language_for("ack", "../en") == "es"
    english_default = TemplateRenderer(default_language="en")
    assert (
        english_default.render("ack", "de", sample_context("ack", MONDAY_MORNING)).language == "en"
    )


def test_a_kind_missing_in_one_language_falls_back(tmp_path: Path) -> None:
    folder = tmp_path / "es"
    folder.mkdir()
    (folder / "survey.subject.txt").write_text("[#{{ ticket.id }}] Encuesta\n")
    (folder / "survey.txt").write_text("¿Qué tal le atendimos?\n")
    (folder / "survey.html").write_text(
        '{% extends "base.html" %}{% block content %}<p>¿Qué tal?</p>{% endblock %}'
    )
    renderer = TemplateRenderer(override_path=str(tmp_path))
    out = renderer.render("survey", "en", sample_context("ack", SATURDAY_AFTERNOON))
    assert out.language == "es" and out.subject == "[#1234] Encuesta"


def test_operator_override_wins(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "ack.subject.txt").write_text("Ticket {{ ticket.id }} received\n")
    renderer = TemplateRenderer(override_path=str(tmp_path))
    out = renderer.render("ack", "en", sample_context("ack", SATURDAY_AFTERNOON))
    assert out.subject == "Ticket 1234 received"
    assert "We have received your enquiry" in out.text  # the rest still comes from the package


@pytest.mark.parametrize(
    ("kind", "language"), [("../es/ack", "es"), ("nope", "es"), ("_macros", "es"), ("es/ack", "es")]
)
def test_names_that_are_not_kinds(kind: str, language: str) -> None:
    with pytest.raises(TemplateMissingError):
        RENDERER.render(kind, language, {})


def test_every_kind_has_a_typed_context() -> None:
    assert set(KINDS) <= set(CONTEXT_OF_KIND)


MONDAY_DUE = datetime(2026, 12, 7, 13, 0, tzinfo=ZoneInfo("Europe/Madrid"))


def _ack(hours: float, *, working_hours: bool = False) -> dict[str, object]:
    context = sample_context("ack", MONDAY_MORNING)
    return {**context, "response_hours": hours, "response_due_at": MONDAY_DUE, "working_hours": working_hours}


@pytest.mark.parametrize(
    ("language", "hours", "working", "promise"),
    [
        ("es", 4, False, "en un plazo de 4 horas, antes del lunes 7 de diciembre a las 13:00 (CET)."),
        ("es", 1, False, "en un plazo de 1 hora, antes del lunes 7 de diciembre a las 13:00 (CET)."),
        ("es", 4, True, "en un plazo de 4 horas hábiles, antes del lunes 7 de diciembre a las 13:00 (CET)."),
        ("en", 4, False, "We will answer you by email within 4 hours, by Monday 7 December at 13:00 (CET)."),
        ("en", 1.5, True, "within 1.5 working hours, by Monday 7 December at 13:00 (CET)."),
    ],
)
def test_ack_states_the_tickets_own_target(language: str, hours: float, working: bool, promise: str) -> None:
    out = RENDERER.render("ack", language, _ack(hours, working_hours=working))
    assert promise in " ".join(out.text.split())
    assert f"<strong>{hours} " in out.html  # the hours, also in HTML
    assert ("7 de diciembre a las 13:00" if language == "es" else "7 December at 13:00") in out.html


@pytest.mark.parametrize(("language", "limit"), [("es", "límite de 8 h"), ("en", "8 h limit")])
def test_agent_notification_shows_the_tickets_own_targets(language: str, limit: str) -> None:
    context = sample_context("agent_notification", MONDAY_MORNING)
    context["sla"] = replace(context["sla"], response_hours=4, hard_hours=8)  # type: ignore[type-var]
    out = RENDERER.render("agent_notification", language, context)
    for part in (out.text, out.html):
        assert limit in part and "48 h" not in part and "4 h" in part


def test_typed_contexts_are_checked_against_the_kind() -> None:
    from tests.samples import sample_context as typed
    from tickets.values import OutgoingEmail

    ack = typed("ack", MONDAY_MORNING)
    assert isinstance(ack, AckContext)
    with pytest.raises(TypeError, match="needs a AgentNotificationContext, not AckContext"):
        OutgoingEmail(kind="agent_notification", ticket_id=1, to=("a@x.example",), idempotency_key="k",
                      language="es", context=ack)
    assert isinstance(typed("agent_notification", MONDAY_MORNING), AgentNotificationContext)


def test_too_large_says_both_sizes_in_megabytes() -> None:
    out = RENDERER.render("too_large", "es", sample_context("too_large", SATURDAY_AFTERNOON))
    assert "«Capturas del error» ocupa 31,0 MB" in out.text and "es de 25,0 MB" in out.text
    english = RENDERER.render("too_large", "en", sample_context("too_large", SATURDAY_AFTERNOON))
    assert '"Capturas del error" is 31.0 MB' in english.text and "at most 25.0 MB" in english.text
    assert "no lo hemos recibido" in out.subject and "Llame al +34 900 000 000" in out.text


@pytest.mark.parametrize("kind", ["agent_notification", "sla_alert", "delivery_failed"])
def test_spanish_mail_names_status_priority_and_category_in_spanish(kind: str) -> None:
    out = RENDERER.render(kind, "es", sample_context(kind, MONDAY_MORNING))
    for part in (out.text,) if kind == "sla_alert" else (out.text, out.html):  # (its grouped table has no status)
        assert "abierta" in part and "Estado: open" not in part and "<td>open" not in part
    if kind == "agent_notification":
        assert "Categoría: exportar e importar" in out.text and "export-import" not in out.text


def test_the_agent_sees_due_times_in_the_services_zone_with_the_zone_named() -> None:
    out = RENDERER.render("agent_notification", "es", sample_context("agent_notification", MONDAY_MORNING))
    assert "UTC" not in out.text and re.search(r"a las \d\d:\d\d \((CET|CEST)\), quedan", out.text), out.text


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_digest_names_the_zone_of_its_times(language: str) -> None:
    out = RENDERER.render("digest", language, sample_context("digest", MONDAY_MORNING))
    assert re.search(r"\(\d\d:\d\d CES?T\)", out.text), out.text
