"""Logging setup for the CLI and the worker: diagnostics on stderr, stdout stays for data.

`[logging] format = "json"` makes every line one JSON object (for a log shipper): time (ISO 8601,
UTC), level, logger, message, and the structured fields a record carries in `extra`.
"""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.logging import RichHandler

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The `extra` fields of a decision ("message_id": `message` is the log line's own text).
FIELDS = ("action", "ticket", "mailbox", "uid", "message_id", "outbox", "reason")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(verbose: bool = False) -> None:
    """Coloured logs on a terminal; one plain line per record otherwise (journald, files, pipes)."""
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s", datefmt="[%X]"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("imapclient").setLevel(logging.WARNING)


def use_format(kind: str) -> None:
    """Switch the handlers set up above to `kind` ("json"; "text" keeps them as they are)."""
    if kind != "json":
        return
    logging.captureWarnings(True)  # a Python warning is a log line too, not a bare text line
    root = logging.getLogger()
    for index, handler in enumerate(root.handlers):
        if isinstance(handler, RichHandler):  # colours and wrapping would break the JSON lines
            root.handlers[index] = handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())


def json_active() -> bool:
    """Whether the log lines are JSON now (`[logging] format = "json"` was applied)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
