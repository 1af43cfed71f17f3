"""Large mail within memory: six 20 MB messages (a PDF scan each) go through `run --once` with the
worker's peak RSS under 250 MB (issue 12, item 4: batches are bounded by bytes as well as count).
Slow: about 120 MB of mail is written, parsed and stored."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from mailer.maildir import deliver_to_maildir
from tests.e2e.conftest import clean_env, write_config

MB = 1024 * 1024
# Runs the CLI as a child and prints the largest peak RSS among its waited-for descendants.
MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
sys.stderr.write(done.stderr[-3000:])
"""


def _big_mail(index: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Usuario {index} <user{index}@correo.example>"
    msg["To"] = "soporte@ventanilla.example"
    msg["Subject"] = f"Adjunto el escaneo de mi DNI ({index})"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<big{index}@correo.example>"
    msg.set_content("Buenos días, les adjunto el documento escaneado.")
    msg.add_attachment(bytes([index]) * (14 * MB), maintype="application", subtype="pdf", filename="dni.pdf")
    return msg.as_bytes()


@pytest.mark.slow
def test_six_20_mb_messages_stay_within_250_mb(tmp_path) -> None:
    inbox = tmp_path / "maildir"
    for index in range(6):
        raw = _big_mail(index)
        assert 18 * MB < len(raw) < 21 * MB  # 14 MB in base64
        deliver_to_maildir(inbox, raw)
    config = write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path}/ventanilla.db"},
            "inbox": {"kind": "maildir", "path": str(inbox)},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )
    command = [sys.executable, "-m", "ventanilla", "--config", str(config), "run", "--once"]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    code, peak_kb = map(int, done.stdout.split())
    assert code == 0, done.stderr
    assert peak_kb / 1024 < 250, f"peak RSS {peak_kb / 1024:.0f} MB"
    listed = subprocess.run(
        [sys.executable, "-m", "ventanilla", "--config", str(config), "tickets", "list", "--json"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(json.loads(listed.stdout)) == 6
