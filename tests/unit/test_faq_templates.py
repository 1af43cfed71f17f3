"""FAQ suggestions and the revocation line in the acknowledgement, and in the agent's notification."""

from datetime import UTC, datetime

import pytest

from mailer.templating import TemplateRenderer
from tests.samples import sample_values
from tickets.mail_context import FaqLink

MONDAY_MORNING = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
RENDERER = TemplateRenderer()
LINKS = (
    FaqLink(title="¿Cómo renuevo mi certificado? <pronto>", url="https://faq.example/renovar?a=1&b=2"),
    FaqLink(title="Mi certificado ya ha caducado", url="https://faq.example/caducado"),
)
HEADING = {"es": "Quizá le ayude:", "en": "These answers may help:"}
SUGGESTED = {"es": "Sugerido al usuario:", "en": "Suggested to the user:"}


def _ack(language: str, **changes: object) -> tuple[str, str]:
    out = RENDERER.render("ack", language, {**sample_values("ack", MONDAY_MORNING), **changes})
    return out.text, out.html


@pytest.mark.parametrize("language", ["es", "en"])
def test_suggestions_are_listed_under_the_heading_with_title_and_url(language: str) -> None:
    text, html = _ack(language, faq=LINKS)
    assert HEADING[language] in text and HEADING[language] in html
    assert "  - ¿Cómo renuevo mi certificado? <pronto>\n    https://faq.example/renovar?a=1&b=2\n" in text
    assert '<a href="https://faq.example/renovar?a=1&amp;b=2">¿Cómo renuevo mi certificado? &lt;pronto&gt;</a>' in html
    assert text.index(HEADING[language]) < text.index("https://faq.example/caducado")
    section = text[text.index(HEADING[language]) :].split("\n\n")[0]
    assert all(len(line) <= 80 for line in section.splitlines())


@pytest.mark.parametrize("language", ["es", "en"])
def test_no_suggestions_no_heading(language: str) -> None:
    text, html = _ack(language, faq=())
    assert HEADING[language] not in text and HEADING[language] not in html


@pytest.mark.parametrize("language", ["es", "en"])
def test_a_revocation_puts_the_24_7_line_first_and_once(language: str) -> None:
    text, html = _ack(language, faq=(), revocation_first=True)
    first = text.index("+34 900 000 024")
    assert first < text.index("[#1234]") and text.count("+34 900 000 024") == 1
    body = html[html.index("<body") :]
    assert body.index("+34 900 000 024") < body.index("[#1234]") and body.count("+34 900 000 024") == 1
    plain, _ = _ack(language, faq=())
    assert plain.index("+34 900 000 024") > plain.index("[#1234]")


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_agent_is_told_what_the_user_was_sent(language: str) -> None:
    context = sample_values("agent_notification", MONDAY_MORNING)
    told = RENDERER.render("agent_notification", language, {**context, "suggested": LINKS})
    assert (
        f"{SUGGESTED[language]}\n  - ¿Cómo renuevo mi certificado? <pronto> <https://faq.example/renovar" in told.text
    )
    assert SUGGESTED[language] in told.html and "&lt;pronto&gt;" in told.html
    plain = RENDERER.render("agent_notification", language, context)
    assert SUGGESTED[language] not in plain.text
