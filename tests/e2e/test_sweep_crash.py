"""G62: `kill -9` in the middle of an SLA sweep (named crash points, a real `ventanilla sla sweep`
subprocess on SQLite and PostgreSQL): killed after the alerts and their mail are written but before
the commit, the next sweep writes them once; killed just after the commit, the next writes nothing.
Each (ticket, threshold, cycle) is alerted exactly once, and its mail queued once."""

import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.e2e.conftest import clean_env, ventanilla, write_config
from tests.mailgen import message
from tickets.db import read_only
from tickets.models import Outbox
from tickets.sla.models import SlaAlert

pytestmark = pytest.mark.timeout(120)
TICKETS = 3


def _desk(tmp_path: Path, db_url: str) -> Path:
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
            "helpdesk": {"supervisors": ["supervision@ventanilla.example"]},
        },
    )
    for index in range(1, TICKETS + 1):
        _, raw = message(
            index=index, sender=f"user{index}@correo.example", subject=f"Certificado caducado ({index})",
            body="No puedo renovar.", when=datetime.now(UTC) - timedelta(minutes=5),
        )
        done = ventanilla("--config", config, "deliver", "--mailbox", "support", cwd=tmp_path, stdin=raw)
        assert done.returncode == 0, done.stderr
    return config


def _sweep(config: Path, cwd: Path, later: str, crash: str = "") -> int:
    env = clean_env(VENTANILLA_CRASH_AT=crash) if crash else None
    return ventanilla("--config", config, "sla", "sweep", "--now", later, cwd=cwd, env=env).returncode


def _state(engine) -> tuple[Counter[tuple[int, int, str]], Counter[str]]:  # type: ignore[no-untyped-def]
    with read_only(engine) as session:
        alerts = Counter((a.ticket_id, a.cycle, a.threshold) for a in session.scalars(select(SlaAlert)))
        mail = Counter(o.idempotency_key for o in session.scalars(select(Outbox)) if o.kind != "ack")
    return alerts, mail


@pytest.mark.parametrize("point", ["before-commit:sla-sweep", "after-commit:sla-sweep"])
def test_g62_a_sweep_killed_mid_run_alerts_each_threshold_once(
    point: str, any_db_url: str, db_engine_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    config = _desk(tmp_path, any_db_url)
    engine = db_engine_for(any_db_url)
    later = (datetime.now(UTC) + timedelta(hours=30)).isoformat(timespec="seconds")

    assert _sweep(config, tmp_path, later, crash=point) == -signal.SIGKILL, f"never reached {point}"
    alerts, mail = _state(engine)
    if point.startswith("before"):
        assert not alerts and not mail, "an uncommitted sweep left alerts or mail behind"
    else:
        assert len(alerts) == 2 * TICKETS, alerts  # warn-24h and breach-24h for each ticket

    assert _sweep(config, tmp_path, later) == 0
    assert _sweep(config, tmp_path, later) == 0, "a repeated sweep must be harmless"
    alerts, mail = _state(engine)
    assert sorted(alerts) == sorted(
        (t, 1, k) for t in range(1, TICKETS + 1) for k in ("warn-24h", "breach-24h")
    ), alerts
    assert set(alerts.values()) == {1} and mail and set(mail.values()) == {1}, (alerts, mail)
