"""Attachments (issue 13): stored once by content, listed by `tickets show`, written out byte for
byte by `tickets attachment`, carried to agents and relayed from them. Real CLI, real databases."""

from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import func, select

from tests.e2e.attachment_mail import AGENT, PDF, config, deliver, files_of, mail_with, sent_mail, show
from tests.e2e.conftest import SQLITE_ONLY, ventanilla
from tickets.db import read_only
from tickets.models import AttachmentRow, Blob, Outbox

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00captura" * 50


def _files(shown: dict) -> list[dict]:
    return [f for m in shown["messages"] for f in m["attachments"]]


def test_the_same_pdf_in_two_mails_is_one_blob_listed_and_written_out_exactly(
    any_db_url, tmp_path, db_engine_for
) -> None:
    cfg = config(tmp_path, any_db_url)
    deliver(cfg, tmp_path, mail_with(1, "marta@correo.example", [("justificante.pdf", "application/pdf", PDF)]))
    second = [("justificante.pdf", "application/pdf", PDF), ("captura.png", "image/png", PNG)]
    deliver(cfg, tmp_path, mail_with(2, "pablo@correo.example", second))

    with read_only(db_engine_for(any_db_url)) as session:
        named = AttachmentRow.filename == "justificante.pdf"
        pdf_sha = session.scalars(select(AttachmentRow.sha256).where(named)).all()
        assert len(pdf_sha) == 2 and len(set(pdf_sha)) == 1
        assert session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256 == pdf_sha[0])) == 1
    one, two = show(cfg, tmp_path, 1), show(cfg, tmp_path, 2)
    (listed,) = _files(one)
    assert set(listed) == {"id", "filename", "content_type", "size", "sha256"}
    assert (listed["filename"], listed["content_type"]) == ("justificante.pdf", "application/pdf")
    assert listed["size"] == len(PDF) and len(listed["sha256"]) == 64
    assert [f["filename"] for f in _files(two)] == ["justificante.pdf", "captura.png"]
    assert all("attachments" in m for m in one["messages"]), "every message says, even with none"

    text = ventanilla("--config", cfg, "tickets", "show", "1", cwd=tmp_path)
    assert f"[attachment {listed['id']}] justificante.pdf" in text.stdout, text.stdout

    out = tmp_path / "copia.pdf"
    saved = ventanilla("--config", cfg, "tickets", "attachment", "1", str(listed["id"]), "--out", out, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert out.read_bytes() == PDF

    png_id = _files(two)[1]["id"]
    wrong = ventanilla("--config", cfg, "tickets", "attachment", "1", str(png_id), "--out", "x", cwd=tmp_path)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert "not one of ticket #1" in wrong.stderr and not (tmp_path / "x").exists()


@SQLITE_ONLY
def test_an_existing_file_is_never_overwritten_without_force(any_db_url, tmp_path) -> None:
    cfg = config(tmp_path, any_db_url)
    deliver(cfg, tmp_path, mail_with(1, "marta@correo.example", [("justificante.pdf", "application/pdf", PDF)]))
    (listed,) = _files(show(cfg, tmp_path, 1))
    out = tmp_path / "mine.pdf"
    out.write_bytes(b"my own file")
    command = ("--config", cfg, "tickets", "attachment", "1", str(listed["id"]), "--out", out)
    refused = ventanilla(*command, cwd=tmp_path)
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and out.read_bytes() == b"my own file"
    forced = ventanilla(*command, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes() == PDF


@SQLITE_ONLY
def test_a_file_name_never_becomes_a_path(any_db_url, tmp_path) -> None:
    cfg = config(tmp_path, any_db_url)
    work = tmp_path / "work"
    work.mkdir()
    evil = [("../../evil.sh", "application/x-sh", b"#!/bin/sh\nrm -rf ~\n"), ("..\\..\\win.bat", "text/plain", b"x")]
    deliver(cfg, work, mail_with(1, "marta@correo.example", evil))
    files = _files(show(cfg, work, 1))
    assert [f["filename"] for f in files] == ["evil.sh", "win.bat"]
    out = work / "saved.bin"
    saved = ventanilla("--config", cfg, "tickets", "attachment", "1", str(files[0]["id"]), "--out", out, cwd=work)
    assert saved.returncode == 0, saved.stderr
    assert out.read_bytes() == b"#!/bin/sh\nrm -rf ~\n"
    everything = {p.name for p in tmp_path.rglob("*")}
    assert "evil.sh" not in everything and "win.bat" not in everything
    missing_dir = ventanilla(
        "--config", cfg, "tickets", "attachment", "1", str(files[0]["id"]), "--out", work / "no" / "f", cwd=work
    )
    assert missing_dir.returncode == 2 and len(missing_dir.stderr.strip().splitlines()) == 1


def _flush(cfg: Path, cwd: Path) -> None:
    flushed = ventanilla("--config", cfg, "outbox", "flush", cwd=cwd)
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr


def test_the_agent_notification_carries_the_users_files_and_the_agents_files_reach_the_user(
    any_db_url, tmp_path, db_engine_for
) -> None:
    cfg = config(tmp_path, any_db_url)
    user = "marta@correo.example"
    deliver(cfg, tmp_path, mail_with(1, user, [("justificante.pdf", "application/pdf", PDF)]))
    _flush(cfg, tmp_path)
    (notice,) = [m for m in sent_mail(tmp_path) if str(m["To"]) == AGENT]
    assert files_of(notice) == [("justificante.pdf", "application/pdf", PDF)], "the exact bytes, attached"
    assert "justificante.pdf" in notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # The agent answers through the notification's signed Reply-To, attaching a guide.
    guide = b"%PDF-1.4 guia de instalacion " * 30
    reply = mail_with(
        2,
        AGENT,
        [("guía instalación.pdf", "application/pdf", guide)],
        to=str(notice["Reply-To"].addresses[0].addr_spec),
        text="Le adjunto la guía de instalación.",
        subject=f"Re: {notice['Subject']}",
        in_reply_to=str(notice["Message-ID"]),
    )
    assert "agent" in deliver(cfg, tmp_path, reply)
    _flush(cfg, tmp_path)
    (answer,) = [m for m in sent_mail(tmp_path) if str(m["To"]) == user and m["Subject"].startswith("Re")]
    assert files_of(answer) == [("guía instalación.pdf", "application/pdf", guide)]
    with read_only(db_engine_for(any_db_url)) as session:
        raws = session.scalars(select(Outbox.raw).where(Outbox.kind == "agent_reply")).all()
    stored = message_from_bytes(raws[0], policy=policy.default)
    assert files_of(stored) == [("guía instalación.pdf", "application/pdf", guide)], "the outbox row holds the files"
    agent_messages = [m for m in show(cfg, tmp_path, 1)["messages"] if m["kind"] == "agent"]
    assert [f["filename"] for f in agent_messages[0]["attachments"]] == ["guía instalación.pdf"]


@SQLITE_ONLY
def test_over_the_limit_the_notification_lists_the_files_and_the_command(any_db_url, tmp_path) -> None:
    cfg = config(tmp_path, any_db_url, attach_max_bytes=len(PDF) + len(PNG) - 1)
    files = [("justificante.pdf", "application/pdf", PDF), ("captura.png", "image/png", PNG)]
    deliver(cfg, tmp_path, mail_with(1, "marta@correo.example", files))
    _flush(cfg, tmp_path)
    (notice,) = [m for m in sent_mail(tmp_path) if str(m["To"]) == AGENT]
    assert files_of(notice) == []
    text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    ids = [f["id"] for f in _files(show(cfg, tmp_path, 1))]
    for attachment_id, name in zip(ids, ("justificante.pdf", "captura.png"), strict=True):
        assert f"ventanilla tickets attachment 1 {attachment_id} --out" in text, text
        assert name in text
    assert "KB" in text  # sizes a person reads
