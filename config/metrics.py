"""Settings of the worker's own HTTP endpoints: `[metrics]`.

    [metrics]
    listen = ""                      # "127.0.0.1:9464": serve /metrics and /healthz; empty: off
    max_outbox_age_seconds = 900     # /healthz fails when a due message waited longer than this
"""

from pydantic import BaseModel, ConfigDict, Field, field_validator


def split_listen(value: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"; ValueError naming what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:9464), got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class MetricsSettings(BaseModel):
    """Where the worker serves Prometheus metrics and its health, and what counts as healthy."""

    model_config = ConfigDict(extra="forbid")

    listen: str = ""  # HOST:PORT; port 0 picks a free one (said in the log); "" = no HTTP server
    max_outbox_age_seconds: float = Field(default=900.0, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        value = value.strip()
        if value:
            split_listen(value)
        return value
