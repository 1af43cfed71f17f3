"""The web form served by the worker itself (`ventanilla run`) and by `ventanilla web`, over HTTP."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.e2e.conftest import SQLITE_ONLY, clean_env, count_rows, ventanilla, wait_until, write_config
from tests.integration.smtp_sink import SmtpSink, unused_port
from tests.webhelpers import filled, token_of, write_faq
from tickets.models import Outbox, Ticket


def web_config(
    tmp_path: Path, db_url: str, port: int, sink: SmtpSink | None = None, *, faq: bool = True, **web: Any
) -> Path:
    """A worker serving the form on `port` (`web`: more of `[web]`), mail to `sink` or to files."""
    outbound: dict[str, Any] = {"kind": "file", "path": str(tmp_path / "sent")}
    if sink is not None:
        outbound = {"kind": "smtp", "host": "127.0.0.1", "port": sink.port, "security": "none"}
    sections: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir"), "poll_seconds": 0.5},
        "outbound": outbound,
        "web": {"listen": f"127.0.0.1:{port}", "min_fill_seconds": 0.5, **web},
    }
    if faq:
        sections["faq"] = {"path": str(write_faq(tmp_path / "faq"))}
    return write_config(tmp_path / "ventanilla.toml", sections)


def wait_for_form(base: str, proc: Any, output: Any) -> None:
    def up() -> bool:
        assert proc.poll() is None, f"the process ended: {output()}"
        try:
            return httpx.get(base, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(up, seconds=30, what="the web form answers")


def submit(base: str, **fields: Any) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=10) as client:
        token = token_of(client.get("/").text)
        time.sleep(0.6)  # the minimum fill time of this config
        return client.post("/", data=filled(token, **fields), files={"attachment": ("a.txt", b"hola", "text/plain")})


def test_the_worker_serves_the_form_and_the_user_gets_the_acknowledgement(  # type: ignore[no-untyped-def]
    tmp_path: Path, any_db_url: str, smtp_sink: SmtpSink, worker_factory, db_engine_for
) -> None:
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    worker = worker_factory(web_config(tmp_path, any_db_url, port, smtp_sink), tmp_path)
    wait_for_form(base, worker.proc, worker.output)
    suggested = httpx.get(f"{base}/faq/suggest", params={"q": "mi certificado ha caducado, renovar", "lang": "es"})
    assert suggested.json()[0]["url"].endswith("/faq/renovar")
    answer = submit(base)
    assert answer.status_code == 200, answer.text
    reference = re.search(r"\[#(\d+)\]", answer.text)[1]  # type: ignore[index]

    def acknowledged() -> bool:
        return any(f"[#{reference}]" in str(m.parsed()["Subject"]) for m in smtp_sink.delivered_to("ana@example.org"))

    wait_until(acknowledged, seconds=30, what="the acknowledgement reaches the SMTP sink")
    assert worker.terminate(timeout=20) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(base, timeout=1)
    assert "ana@example.org" not in worker.output()  # no PII in the logs


@SQLITE_ONLY
def test_ventanilla_web_alone_queues_the_mail_for_the_worker(tmp_path: Path, any_db_url: str, db_engine_for) -> None:  # type: ignore[no-untyped-def]
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    config = web_config(tmp_path, any_db_url, port)
    assert ventanilla("--config", config, "init", cwd=tmp_path).returncode == 0
    out = (tmp_path / "web.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ventanilla", "--config", str(config), "web"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_form(base, proc, lambda: (tmp_path / "web.out").read_text())
        assert submit(base).status_code == 200
        engine = db_engine_for(any_db_url)
        assert count_rows(engine, Ticket) == 1 and count_rows(engine, Outbox) >= 1  # queued; `run` sends it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        out.close()
    assert f"web form: http://127.0.0.1:{port}/" in (tmp_path / "web.out").read_text()


def test_ventanilla_web_without_an_address_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path / "v.toml", {"database": {"url": f"sqlite:///{tmp_path}/v.db"}})
    result = ventanilla("--config", config, "web", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: web.listen is empty")
    bad = ventanilla("--config", config, "web", "--listen", "nowhere", cwd=tmp_path)
    assert bad.returncode == 2 and "--listen 'nowhere'" in bad.stderr


def test_an_address_in_use_is_one_line_and_exit_78(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = web_config(tmp_path, f"sqlite:///{tmp_path}/v.db", port)
        result = ventanilla("--config", config, "web", cwd=tmp_path)
    assert result.returncode == 78, result.stderr
    assert f"web.listen: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
