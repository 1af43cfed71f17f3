"""RELIABILITY.md catalogue crash and resource cases that lacked a deterministic test: `ventanilla`
as a real subprocess, a real Dovecot, SQLite and PostgreSQL. See tests/RELIABILITY.md.

A1: SIGKILL while the body is being fetched (a proxy holds the FETCH answer), before any commit.
A2: SIGKILL at the named crash point after the spool commit, before the IMAP MOVE.
A12: the disk is full (a file-size limit on the process): nothing committed, nothing moved; later it works.
"""

import contextlib
import resource
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.dbhelpers import inbound_by_message_id
from tests.e2e.conftest import (
    clean_env,
    count_rows,
    folder_message_ids,
    imap_section,
    ventanilla,
    wait_until,
    write_config,
)
from tests.mailgen import append_all, backlog
from tickets.models import Outbox, Receipt, Ticket


def _config(tmp_path: Path, dovecot, db_url: str, name: str = "ventanilla.toml", **inbox) -> Path:  # type: ignore[no-untyped-def]
    return write_config(
        tmp_path / name,
        {
            "database": {"url": db_url},
            "inbox": imap_section(dovecot, **inbox),
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )


# -- A2 ------------------------------------------------------------------------------------------------


def test_a2_sigkill_after_the_spool_commit_before_move_only_moves_on_restart(
    dovecot, any_db_url, db_engine_for, tmp_path
) -> None:
    mails = backlog(4, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails)
    config = _config(tmp_path, dovecot, any_db_url)
    engine = db_engine_for(any_db_url)

    crashed = ventanilla(
        "--config", config, "run", "--once", cwd=tmp_path, env=clean_env(VENTANILLA_CRASH_AT="intake:spooled")
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    assert count_rows(engine, Receipt) == 4 and count_rows(engine, Ticket) == 0  # committed, nothing decided
    assert len(dovecot.uids("INBOX")) == 4 and dovecot.uids("Processed") == [], "not moved: the crash came first"

    restarted = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    found = inbound_by_message_id(engine)
    assert set(found) == {m["message_id"] for m in mails} and all(len(t) == 1 for t in found.values())
    assert count_rows(engine, Receipt) == 4 and count_rows(engine, Ticket) == 4
    assert dovecot.uids("INBOX") == []
    assert sorted(folder_message_ids(dovecot, "Processed")) == sorted(m["message_id"] for m in mails)
    again = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert again.returncode == 0 and count_rows(engine, Ticket) == 4 and count_rows(engine, Outbox) == 4  # an ack each


# -- A1 ------------------------------------------------------------------------------------------------


class _HoldingProxy:
    """Forwards 127.0.0.1:<port> to Dovecot until the client asks for a message body (BODY.PEEK[]);
    from then on nothing more reaches the client: the worker sits in the middle of its FETCH."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.holding = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self._target)
                self._sockets += [client, upstream]
                threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
                threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_client and b"BODY.PEEK[]" in data:
                    self.holding.set()
                if not from_client and self.holding.is_set():
                    continue  # swallowed: the answer to the FETCH never arrives
                sink.sendall(data)

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.mark.timeout(120)
def test_a1_sigkill_during_the_body_fetch_before_commit_is_fetched_again_once(
    dovecot, any_db_url, db_engine_for, worker_factory, tmp_path
) -> None:
    mails = backlog(3, reply_every=100)
    with dovecot.imap_client() as client:
        append_all(client, "INBOX", mails)
    proxy = _HoldingProxy(dovecot.port)
    engine = db_engine_for(any_db_url)
    try:
        config = _config(tmp_path, dovecot, any_db_url, "via-proxy.toml", port=proxy.port, timeout_seconds=60.0)
        worker = worker_factory(config, tmp_path)
        wait_until(proxy.holding.is_set, seconds=60, what="the worker asking for the bodies")
        worker.kill()
    finally:
        proxy.close()
    assert count_rows(engine, Receipt) == 0, "nothing was committed before the kill"
    uids = dovecot.uids("INBOX")
    assert len(uids) == 3 and not any("\\Seen" in dovecot.flags("INBOX", uid) for uid in uids), "BODY.PEEK: unseen"

    restarted = ventanilla("--config", _config(tmp_path, dovecot, any_db_url), "run", "--once", cwd=tmp_path)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    found = inbound_by_message_id(engine)
    assert set(found) == {m["message_id"] for m in mails} and all(len(t) == 1 for t in found.values())
    assert count_rows(engine, Ticket) == 3 and dovecot.uids("INBOX") == [] and len(dovecot.uids("Processed")) == 3


# -- A12 -----------------------------------------------------------------------------------------------

# Runs a command with a file-size limit (RLIMIT_FSIZE): writes past it fail with EFBIG, as on a full disk.
# CPython ignores SIGXFSZ, so the process sees the error instead of dying of the signal.
_LIMITED = """
import resource, subprocess, sys
limit = int(sys.argv[1])
def cap():
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
done = subprocess.run(sys.argv[2:], preexec_fn=cap, stdin=sys.stdin)
sys.exit(done.returncode)
"""


def _limited(limit: int, args: list[str], cwd: Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-c", _LIMITED, str(limit), sys.executable, "-m", "ventanilla", *args]
    return subprocess.run(command, cwd=cwd, env=clean_env(), input=stdin, capture_output=True, timeout=120)


def _big_mail(index: int) -> bytes:
    raw: bytes = backlog(index + 1, reply_every=100)[index]["raw"]
    return raw.replace(b"Hola,", b"Hola," + b" certificado" * 200_000, 1)  # about 2.4 MB


@pytest.mark.slow
def test_a12_disk_full_commits_nothing_moves_nothing_and_works_once_space_is_back(tmp_path) -> None:
    db = tmp_path / "ventanilla.db"
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{db}"},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "parse_processes": 0},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "helpdesk": {"secret": "catalogue-a12-secret-0123456789abcdef"},
        },
    )
    assert ventanilla("--config", config, "init", cwd=tmp_path).returncode == 0
    room = db.stat().st_size + 256 * 1024  # far less than the message needs
    raw = _big_mail(0)
    assert resource.RLIMIT_FSIZE  # the platform has the limit

    piped = _limited(room, ["--config", str(config), "deliver", "--mailbox", "support"], tmp_path, raw)
    assert piped.returncode == 75, piped.stderr[-2000:]  # EX_TEMPFAIL: the MTA keeps it and retries

    maildir = tmp_path / "maildir"
    (maildir / "new" / "1.M1.mta").write_bytes(raw)
    polled = _limited(room, ["--config", str(config), "run", "--once"], tmp_path)
    assert polled.returncode in (0, 1, 75), polled.stderr[-2000:]  # not killed by SIGXFSZ
    assert [p.name for p in (maildir / "new").iterdir()] == ["1.M1.mta"], "not moved: nothing was committed"
    listed = ventanilla("--config", config, "tickets", "list", "--json", cwd=tmp_path)
    assert listed.stdout.strip() == "[]"
    from tickets.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        assert count_rows(engine, Receipt) == 0
    finally:
        engine.dispose()

    again = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert list((maildir / "new").iterdir()) == []
    listed = ventanilla("--config", config, "tickets", "list", "--json", cwd=tmp_path)
    assert listed.stdout.count('"id"') == 1, "the piped copy and the Maildir copy are one message: one ticket"
