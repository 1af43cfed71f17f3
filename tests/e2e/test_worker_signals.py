"""`ventanilla run` as a long-running process: graceful SIGTERM, and IMAP IDLE latency."""

import email.policy
import os
import signal
import subprocess
import sys
import time
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from tests.e2e.conftest import clean_env, count_rows, imap_section, ventanilla, wait_until, write_config
from tests.mailgen import backlog
from tickets.db import read_only
from tickets.models import MailboxState, Receipt, Ticket

STOP_WITHIN = 10.0


def _maildir_config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "poll_seconds": 0.5, "batch_size": 20},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )


def _drop(maildir: Path, raw: bytes, name: str) -> None:
    """An MTA delivery: write into tmp/, rename into new/."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "tmp" / name).write_bytes(raw)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)


def _waiting_in(maildir: Path) -> int:
    """Messages still in the inbox proper (new/ and cur/, not the .Processed sub-folder)."""
    return sum(1 for sub in ("new", "cur") for _ in (maildir / sub).iterdir())


def _lease_held(engine) -> bool:  # type: ignore[no-untyped-def]
    try:
        with read_only(engine) as session:
            return bool(session.scalar(select(MailboxState.lease_owner)))
    except Exception:
        return False


def test_sigterm_stops_the_maildir_worker_cleanly_after_the_current_message(
    tmp_path, worker_factory, db_engine_for
) -> None:
    config = _maildir_config(tmp_path)
    maildir = tmp_path / "maildir"
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    mails = backlog(300, reply_every=100)
    worker = worker_factory(config, tmp_path)
    for i, mail in enumerate(mails[:3]):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    wait_until(lambda: count_rows(engine, Ticket) == 3, seconds=30, what="the first three tickets")

    # A burst arrives; stop the worker while it is taking it in.
    for i, mail in enumerate(mails[3:], start=3):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    wait_until(lambda: count_rows(engine, Receipt) > 10, seconds=30, what="the burst being taken in")
    started = time.monotonic()
    code = worker.terminate(timeout=STOP_WITHIN + 5)
    took = time.monotonic() - started

    assert code == 0, worker.output()[-3000:]
    assert took < STOP_WITHIN, f"SIGTERM took {took:.1f} s"
    assert "worker stopped" in worker.output()
    assert "Traceback" not in worker.output()
    assert not _lease_held(engine), "a clean stop releases the mailbox lease"
    # Nothing half-done: every committed message has left the inbox, every other one is still there.
    receipts = count_rows(engine, Receipt)
    assert receipts + _waiting_in(maildir) == len(mails), (receipts, _waiting_in(maildir))
    assert _pending(engine) == 0, "the batch in hand was finished: every spooled message processed"
    print(f"SIGTERM honoured in {took:.2f} s with {receipts}/{len(mails)} messages taken")

    # The rest is taken by the next run, and nothing is doubled.
    rest = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert rest.returncode == 0, rest.stderr
    assert count_rows(engine, Receipt) == len(mails)
    assert count_rows(engine, Ticket) == sum(1 for m in mails if m["parent"] is None)
    assert _waiting_in(maildir) == 0


@pytest.mark.timeout(120)
def test_sigterm_during_a_large_backlog_stops_within_seconds(tmp_path, worker_factory, db_engine_for) -> None:
    config = _maildir_config(tmp_path)
    maildir = tmp_path / "maildir"
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    mails = backlog(1500, reply_every=100)
    for i, mail in enumerate(mails):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    worker = worker_factory(config, tmp_path)
    wait_until(lambda: count_rows(engine, Receipt) > 20, seconds=30, what="the backlog being taken in")

    os.kill(worker.pid, signal.SIGTERM)
    try:
        code = worker.proc.wait(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_WITHIN} s after SIGTERM ({count_rows(engine, Receipt)} receipts so far)")
    assert code == 0, worker.output()[-3000:]
    receipts = count_rows(engine, Receipt)
    assert receipts < len(mails) and receipts + _waiting_in(maildir) == len(mails)
    assert _pending(engine) == 0, "the batch in hand was finished: every spooled message processed"


def test_sigterm_on_an_idle_maildir_worker_exits_promptly(tmp_path, worker_factory, db_engine_for) -> None:
    config = _maildir_config(tmp_path)
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    worker = worker_factory(config, tmp_path)
    wait_until(lambda: _lease_held(engine), seconds=30, what="the worker starting")
    time.sleep(1.0)  # well inside its wait for mail
    started = time.monotonic()
    assert worker.terminate(timeout=STOP_WITHIN + 5) == 0, worker.output()[-3000:]
    assert time.monotonic() - started < STOP_WITHIN


@pytest.mark.timeout(90)
def test_imap_worker_tickets_new_mail_within_seconds_with_idle(dovecot, tmp_path, worker_factory, db_engine_for):
    db_url = f"sqlite:///{tmp_path}/ventanilla.db"
    # poll_seconds is far above the bound we assert: only IDLE can wake the worker in time.
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": imap_section(dovecot, idle=True, poll_seconds=120.0, idle_seconds=60),
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )
    engine = db_engine_for(db_url)
    worker = worker_factory(config, tmp_path)
    wait_until(lambda: _lease_held(engine), seconds=30, what="the worker starting")
    time.sleep(1.5)  # let the first (empty) pass finish and IDLE begin

    latencies = []
    for n, mail in enumerate(backlog(3, reply_every=100), start=1):
        dovecot.append("INBOX", mail["raw"], mail["when"])
        latencies.append(wait_until(lambda n=n: count_rows(engine, Ticket) == n, seconds=15, what=f"ticket {n}"))
        time.sleep(0.5)
    assert worker.alive(), worker.output()[-3000:]
    print("IDLE latencies: " + ", ".join(f"{s:.2f} s" for s in latencies))
    assert max(latencies) < 10.0, latencies
    assert dovecot.uids("INBOX") == [] and len(dovecot.uids("Processed")) == 3
    # The outbox drainer polls on its own clock: the acknowledgements follow within seconds.
    sent = tmp_path / "sent"
    acked = wait_until(lambda: len(list(sent.glob("*.eml"))) == 3 if sent.exists() else False,
                       seconds=15, what="the three acknowledgements")
    print(f"acknowledgements all written {acked:.2f} s after the third ticket")

    # Stopping while in IDLE is prompt and clean too.
    started = time.monotonic()
    assert worker.terminate(timeout=STOP_WITHIN + 5) == 0, worker.output()[-3000:]
    assert time.monotonic() - started < STOP_WITHIN
    assert not _lease_held(engine)


def test_sigint_is_as_graceful_as_sigterm(tmp_path, worker_factory, db_engine_for) -> None:
    config = _maildir_config(tmp_path)
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    worker = worker_factory(config, tmp_path)
    wait_until(lambda: _lease_held(engine), seconds=30, what="the worker starting")
    os.kill(worker.pid, signal.SIGINT)
    assert worker.proc.wait(timeout=STOP_WITHIN + 5) == 0, worker.output()[-3000:]
    assert not _lease_held(engine)


def _ack_subjects(sent: Path) -> list[str]:
    """The Subject of every message the file transport wrote (only acknowledgements: no agents)."""
    if not sent.exists():
        return []
    out = []
    for path in sorted(sent.glob("*.eml"), key=lambda p: int(p.stem)):  # in outbox order
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(path.read_bytes())
        out.append(str(headers["Subject"]))
    return out


def _ack_templates(folder: Path, mark: str) -> None:
    """An operator's acknowledgement subjects (both languages), marked `mark`."""
    for language in ("es", "en"):
        (folder / language).mkdir(parents=True, exist_ok=True)
        (folder / language / "ack.subject.txt").write_text(f"{mark} [#{{{{ ticket.id }}}}] {{{{ ticket.subject }}}}\n")


def _pending(engine) -> int:  # type: ignore[no-untyped-def]
    try:
        with read_only(engine) as session:
            return int(session.scalar(
                select(func.count()).select_from(Receipt).where(col(Receipt.status).in_(["received", "failed"]))
            ) or 0)
    except Exception:
        return -1


@pytest.mark.timeout(120)
def test_sighup_reloads_templates_without_losing_mail(tmp_path, worker_factory, db_engine_for) -> None:
    # (not "templates": `python -m` puts the cwd first on sys.path, and the package has that name)
    templates, sent, maildir = tmp_path / "operator-templates", tmp_path / "sent", tmp_path / "maildir"
    _ack_templates(templates, "V1")
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(maildir), "poll_seconds": 0.5, "batch_size": 10},
            "outbound": {"kind": "file", "path": str(sent)},
            "templates": {"path": str(templates)},  # parse_processes = 1: mail is written in a child too
        },
    )
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    mails = backlog(90, reply_every=1000)  # every one a new ticket, so every one acknowledged
    worker = worker_factory(config, tmp_path)
    for i, mail in enumerate(mails[:3]):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    wait_until(lambda: len(_ack_subjects(sent)) == 3, seconds=30, what="the first acknowledgements")
    assert all(s.startswith("V1 [#") for s in _ack_subjects(sent)), _ack_subjects(sent)

    # The operator edits the templates and sends SIGHUP, several times while a burst is processed.
    _ack_templates(templates, "V2")
    for i, mail in enumerate(mails[3:80], start=3):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    for _ in range(3):
        os.kill(worker.pid, signal.SIGHUP)
        time.sleep(0.2)
    wait_until(lambda: len(_ack_subjects(sent)) == 80, seconds=60, what="the burst's acknowledgements")
    assert worker.alive(), worker.output()[-3000:]
    assert "templates reloaded" in worker.output()
    marks = [s.split()[0] for s in _ack_subjects(sent)]
    assert marks[:3] == ["V1"] * 3 and "V2" in marks, marks
    first_v2 = marks.index("V2")  # once reloaded, everything written after uses the new templates
    assert marks[first_v2:] == ["V2"] * (80 - first_v2), marks

    # A template that does not compile is refused on SIGHUP: the old ones stay, mail goes on.
    (templates / "es" / "ack.subject.txt").write_text("{% if %} broken\n")
    (templates / "en" / "ack.subject.txt").write_text("{% if %} broken\n")
    os.kill(worker.pid, signal.SIGHUP)
    wait_until(lambda: "templates not reloaded" in worker.output(), seconds=15, what="the refusal")
    for i, mail in enumerate(mails[80:], start=80):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    wait_until(lambda: len(_ack_subjects(sent)) == len(mails), seconds=60, what="the last acknowledgements")
    assert all(s.startswith("V2 [#") for s in _ack_subjects(sent)[80:])

    assert worker.terminate(timeout=STOP_WITHIN + 5) == 0, worker.output()[-3000:]
    assert count_rows(engine, Ticket) == len(mails) and count_rows(engine, Receipt) == len(mails)
    assert _pending(engine) == 0 and _waiting_in(maildir) == 0
    assert "Traceback" not in worker.output()


def test_sighup_during_run_once_is_harmless(tmp_path, db_engine_for) -> None:
    """Nothing to reload in a one-shot run, and SIGHUP's default would kill it: it is ignored."""
    config = _maildir_config(tmp_path)
    maildir = tmp_path / "maildir"
    engine = db_engine_for(f"sqlite:///{tmp_path}/ventanilla.db")
    mails = backlog(600, reply_every=1000)
    for i, mail in enumerate(mails):
        _drop(maildir, mail["raw"], f"{i}.M{i}.mta")
    with (tmp_path / "once.err").open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "ventanilla", "--config", str(config), "run", "--once"],
                                cwd=tmp_path, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        try:
            wait_until(lambda: count_rows(engine, Receipt) > 0, seconds=60, what="the run taking mail in")
            os.kill(proc.pid, signal.SIGHUP)
            code = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == 0, (tmp_path / "once.err").read_text()[-2000:]
    assert count_rows(engine, Ticket) == len(mails) and _pending(engine) == 0
