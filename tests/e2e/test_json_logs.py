"""`[logging] format = "json"`: every line one JSON object, also for the sender's lines (their
outbox row), a Python warning and an unexpected crash (its traceback inside the object)."""

import json
import logging
import warnings
from pathlib import Path

from mailer.maildir import deliver_to_maildir
from tests.e2e.conftest import ventanilla, write_config
from tests.mailgen import backlog
from ventanilla.logs import JsonFormatter, json_active, setup_logging, use_format


def _lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines()]  # fails on any line that is not JSON


def test_the_sender_lines_carry_their_outbox_row_and_ticket(tmp_path: Path) -> None:
    for mail in backlog(2, reply_every=100):
        deliver_to_maildir(tmp_path / "maildir", mail["raw"])
    config = write_config(tmp_path / "v.toml", {
        "database": {"url": f"sqlite:///{tmp_path}/v.db"},
        "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
        "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        "logging": {"format": "json"},
    })
    done = ventanilla("--config", config, "run", "--once", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = _lines(done.stderr)
    sent = [line for line in lines if line.get("action") == "outbox_sent"]
    assert len(sent) == 2 and all(isinstance(s["outbox"], int) and s["ticket"] for s in sent), sent
    passes = [line for line in lines if line.get("action") == "pass"]
    assert passes and passes[0]["mailbox"] == "support"
    assert all(line["time"].endswith("+00:00") for line in lines)  # type: ignore[union-attr]


def test_a_database_that_is_no_database_is_one_json_line_naming_it(tmp_path: Path) -> None:
    """With JSON logs even a CLI error is one JSON object (a log shipper reads every line)."""
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all\n" * 400)
    config = write_config(tmp_path / "v.toml", {
        "database": {"url": f"sqlite:///{garbage}"},
        "logging": {"format": "json"},
    })
    done = ventanilla("--config", config, "tickets", "list", cwd=tmp_path)
    assert done.returncode == 1
    (line,) = _lines(done.stderr)
    assert line["level"] == "ERROR" and line["action"] == "error", line
    assert "file is not a database" in json.dumps(line), line


def test_plain_text_stays_the_default_and_json_takes_warnings_in() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging()
        assert not json_active()
        use_format("text")
        assert not json_active()
        use_format("json")
        assert json_active() and all(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        records: list[logging.LogRecord] = []
        catcher = logging.Handler()
        catcher.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("py.warnings").addHandler(catcher)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("old setting", UserWarning, stacklevel=1)
        logging.getLogger("py.warnings").removeHandler(catcher)
        assert records and "old setting" in records[0].getMessage()
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
