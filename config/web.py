"""Settings of the web form: `[web]`.

    [web]
    listen = "127.0.0.1:8080"        # host:port; empty: no web form
    public_url = ""                  # how users reach it (shown by the demo and `ventanilla web`)
    max_attachment_bytes = 5242880   # one optional attachment, at most this large
    per_ip_per_hour = 10             # submissions from one client address per hour
    per_email_per_hour = 5           # submissions for one email address per hour
    min_fill_seconds = 3.0           # faster than this after the page was served: a bot
"""

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_LISTEN = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


class WebSettings(BaseModel):
    """The web form served by the worker (or `ventanilla web`)."""

    model_config = ConfigDict(extra="forbid")

    listen: str = ""
    public_url: str = ""
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    per_ip_per_hour: int = Field(default=10, ge=1)
    per_email_per_hour: int = Field(default=5, ge=1)
    min_fill_seconds: float = Field(default=3.0, ge=0)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        value = value.strip()
        if value and (not _LISTEN.match(value) or not 0 < int(value.rsplit(":", 1)[1]) < 65536):
            raise ValueError('expected "host:port", e.g. "127.0.0.1:8080"')
        return value

    def host_port(self) -> tuple[str, int]:
        """The address and port to listen on (listen must be set)."""
        host, port = self.listen.rsplit(":", 1)
        return host.strip("[]"), int(port)

    def url(self) -> str:
        """Where users reach the form."""
        if self.public_url:
            return self.public_url
        host, port = self.host_port()
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}/"
