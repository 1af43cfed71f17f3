"""What the process-level benchmarks share: a private Dovecot, an aiosmtpd sink, a database,
a config file and `ventanilla` worker processes, all on 127.0.0.1 (nothing here is timed)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.e2e.conftest import clean_env, imap_section, write_config
from tests.integration.dovecot import Dovecot

PG = os.environ.get("VENTANILLA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def database_url(kind: str, tmp: Path) -> str:
    """A fresh SQLite file or PostgreSQL schema (`drop_schemas` removes the latter)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / ('bench-' + uuid.uuid4().hex[:6] + '.db')}"
    schema = "bench_" + uuid.uuid4().hex[:10]
    engine = create_engine(PG)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{PG}?options=-csearch_path%3D{schema}"


def drop_schemas(urls: list[str]) -> None:
    """Drop the PostgreSQL schemas among `urls` (SQLite files go with their folder)."""
    schemas = [url.rsplit("%3D", 1)[1] for url in urls if "search_path%3D" in url]
    if not schemas:  # a SQLite run needs no PostgreSQL
        return
    engine = create_engine(PG)
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


def fill(server: Dovecot, mails: list[dict[str, Any]], per_append: int = 200) -> None:
    """A fresh user whose INBOX holds `mails` (MULTIAPPEND, `per_append` at a time)."""
    server.reset()
    with server.imap_client() as client:
        for start in range(0, len(mails), per_append):
            chunk = mails[start : start + per_append]
            client.multiappend("INBOX", [{"msg": m["raw"], "date": m["when"]} for m in chunk])


def config(tmp: Path, server: Dovecot, url: str, sink_port: int, *, connections: int = 1, **inbox: Any) -> Path:
    """A worker's TOML: the Dovecot user's INBOX, SMTP to the sink (`connections` at once), `url`."""
    values = imap_section(server, **inbox)
    if "batch_size" not in inbox:
        del values["batch_size"]  # the product's default, not the tests' smaller one
    sections: dict[str, dict[str, Any]] = {
        "database": {"url": url},
        "inbox": values,
        "outbound": {
            "kind": "smtp",
            "host": "127.0.0.1",
            "port": sink_port,
            "security": "none",
            "connections": connections,
        },
    }
    return write_config(tmp / f"ventanilla-{uuid.uuid4().hex[:6]}.toml", sections)


def ventanilla(config_path: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`python -m ventanilla --config CFG ARGS` in the background, output to a file in `cwd`."""
    log = (cwd / f"worker-{uuid.uuid4().hex[:6]}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ventanilla", "--config", str(config_path), *args],
        cwd=cwd,
        env=env or clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def init(config_path: Path, cwd: Path) -> None:
    """`ventanilla init`: the schema (and the secret) before any worker starts."""
    subprocess.run(
        [sys.executable, "-m", "ventanilla", "--config", str(config_path), "init"],
        cwd=cwd,
        env=clean_env(),
        check=True,
        capture_output=True,
    )
