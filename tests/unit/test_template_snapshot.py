"""Templates render as read at start or at the last reload (SIGHUP), never as edited since:
in the worker, and in a parsing process started after the edit."""

from datetime import UTC, datetime
from pathlib import Path

from config.settings import HelpdeskSettings
from mailer import drafts
from mailer.templating import TemplateRenderer
from tests.samples import sample_context, sample_values
from tickets.values import OutgoingEmail

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
HELPDESK = HelpdeskSettings(address="soporte@x.example", secret="snapshot-secret-0123456789")


def _override(folder: Path, subject: str) -> None:
    (folder / "en").mkdir(exist_ok=True)
    (folder / "en" / "ack.subject.txt").write_text(subject + " {{ ticket.id }}\n")


def test_a_frozen_renderer_ignores_files_edited_after_it_was_made(tmp_path: Path) -> None:
    _override(tmp_path, "Version one")
    renderer = TemplateRenderer.frozen(str(tmp_path), "es")
    _override(tmp_path, "Version two {% if")  # half-saved, broken
    assert renderer.render("ack", "en", sample_values("ack", NOW)).subject == "Version one 1234"
    assert renderer.broken() == []
    again = TemplateRenderer.frozen(str(tmp_path), "es")  # the reload sees it, and says it is broken
    assert [e.split(" ")[0] for e in again.broken()] == ["en/ack.subject.txt"]


def test_a_parsing_process_renders_the_snapshot_it_was_sent_not_the_files(tmp_path: Path) -> None:
    _override(tmp_path, "Version one")
    snapshot = TemplateRenderer.frozen(str(tmp_path), "es").snapshot()
    _override(tmp_path, "Version two")  # edited, no reload yet
    setup = drafts.WriterSetup(
        templates_path=str(tmp_path), default_language="es", helpdesk=HELPDESK, generation=7, sources=snapshot
    )
    intent = OutgoingEmail(
        kind="ack",
        ticket_id=1234,
        to=("ana@x.example",),
        idempotency_key="ack:1234",
        language="en",
        context=sample_context("ack", NOW),
    )
    draft = drafts.new_draft(intent, values=sample_values("ack", NOW), helpdesk=HELPDESK, reply_to="", now=NOW)
    (written,) = drafts.write_all(setup, [draft])
    assert isinstance(written, drafts.Written) and written.subject == "Version one 1234"
