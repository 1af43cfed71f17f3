"""End-to-end helpers: the `ventanilla` CLI as a real subprocess, TOML configs, databases.

Everything here talks to real servers on loopback (Dovecot from tests.integration, SQLite
files, the local PostgreSQL); nothing is mocked.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

# The session Dovecot and a fresh user per test (fixtures are found by name in this module).
from tests.dbhelpers import pg_schema
from tests.integration.conftest import (  # noqa: F401
    dovecot,
    dovecot_server,
    dovecot_without_move,
    dovecot_without_move_server,
)
from tests.integration.dovecot import Dovecot
from tickets.db import make_engine, read_only

CLI_TIMEOUT = 60.0


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without any VENTANILLA_* key (nor terminal sizing), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VENTANILLA_") and k not in ("COLUMNS", "LINES")}
    env.update(extra)
    return env


def ventanilla(
    *args: str | os.PathLike[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m ventanilla ARGS` to completion (text output, UTF-8)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ventanilla", *map(str, args)],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    )


class Worker:
    """`ventanilla --config CFG run` in the background; output goes to files (no pipe can fill up)."""

    def __init__(self, config: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.out = cwd / f"worker-{uuid.uuid4().hex[:6]}.out"
        self.err = self.out.with_suffix(".err")
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ventanilla", "--config", str(config), "run", *args],
                cwd=cwd,
                env=env if env is not None else clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def kill(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float) -> int:
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def worker_factory() -> Iterator[Callable[..., Worker]]:
    """Start background workers; any still running at the end of the test is SIGKILLed."""
    started: list[Worker] = []

    def start(config: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Worker:
        worker = Worker(config, cwd, *args, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.alive():
            worker.kill()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A TOML file with one table per section (values: str, int, float, bool, lists)."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def imap_section(server: Dovecot, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "kind": "imap",
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "username": server.user,
        "password": server.password,
        "batch_size": 50,
        "timeout_seconds": 10.0,
    }
    values.update(overrides)
    return values


# For a test of what the CLI says or writes to files, where the database only holds the data:
# `any_db_url` on SQLite alone (PostgreSQL's part is covered where its behaviour matters).
SQLITE_ONLY = pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_ok: bool) -> Iterator[str]:
    """An EMPTY database for the CLI to create: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ventanilla.db"
        return
    if not postgres_ok:
        pytest.skip("PostgreSQL not reachable")
    with pg_schema("e2e") as url:
        yield url


@pytest.fixture
def db_engine_for() -> Iterator[Callable[[str], Engine]]:
    """Open (and later dispose) read-side engines on the databases the CLI writes."""
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engine = make_engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


def count_rows(engine: Engine, model: Any) -> int:
    """Rows of a table; 0 while the worker has not created the schema yet."""
    try:
        with read_only(engine) as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    except Exception:
        return 0


def wait_until(condition: Callable[[], bool], *, seconds: float, what: str, interval: float = 0.05) -> float:
    """Poll until `condition()` holds; return the time it took, or fail the test."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > seconds:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(interval)
    return time.monotonic() - start


def folder_message_ids(server: Dovecot, folder: str) -> list[str]:
    """The Message-ID header of every message in a folder (read-only, no flag changes)."""
    with server.imap_client() as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        if not uids:
            return []
        data = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        out = []
        for item in data.values():
            header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"]
            out.append(str(message_from_bytes(header, policy=policy.default)["Message-ID"]).strip())
        return out
