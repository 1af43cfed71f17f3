"""The form of a running worker, over HTTP: a capped client is told when to come back."""

from pathlib import Path

import httpx2 as httpx

from tests.e2e.test_web_worker import submit, wait_for_form, web_config
from tests.integration.smtp_sink import unused_port


def test_a_capped_submission_is_429_with_retry_after(tmp_path: Path, worker_factory) -> None:  # type: ignore[no-untyped-def]
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    config = web_config(tmp_path, f"sqlite:///{tmp_path}/ventanilla.db", port, faq=False, per_email_per_hour=1)
    worker = worker_factory(config, tmp_path)
    wait_for_form(base, worker.proc, worker.output)
    assert submit(base).status_code == 200
    refused: httpx.Response = submit(base)
    assert refused.status_code == 429, refused.text
    # The first submission leaves the hour a second or so after it was made: that long to wait.
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600, refused.headers
    assert "Demasiados envíos" in refused.text
    assert worker.terminate(timeout=20) == 0, worker.output()[-3000:]
