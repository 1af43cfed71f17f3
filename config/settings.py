"""One validated settings tree: an optional TOML file, then VENTANILLA_<SECTION>__<KEY> overrides.

Settings are built in the composition root, never at import time.
"""

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from config.agents import AgentSettings, unknown_members
from config.calendar import CalendarSettings
from config.faq import FaqSettings
from config.metrics import MetricsSettings
from config.phone import PhoneSettings
from config.retention import RetentionSettings
from config.sla import SchedulerSettings, SlaSettings
from config.web import WebSettings

ENV_PREFIX = "VENTANILLA_"
DEFAULT_TOML = Path(__file__).with_name("default.toml")


class ConfigError(Exception):
    """The configuration is invalid."""

    exit_code = 78  # EX_CONFIG (sysexits): the one reason the worker stops by itself


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: str = "sqlite:///var/ventanilla.db"


class InboxSettings(Section):
    kind: Literal["imap", "maildir"] = "maildir"
    name: str = "support"
    host: str = "127.0.0.1"
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    auth: Literal["password", "xoauth2"] = "password"
    username: str = ""
    password: SecretStr = SecretStr("")
    oauth2_token_command: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    idle: bool = True
    idle_seconds: int = Field(default=540, ge=10, le=1740)
    poll_seconds: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=5000)
    # Bytes downloaded per batch (a larger message is a batch of its own): bounds the worker's
    # memory whatever the mix of sizes.
    batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    parse_processes: int = Field(default=1, ge=0, le=16)  # 0: parse in the worker process itself
    timeout_seconds: float = Field(default=60.0, gt=0)
    # Several workers: one holds the mailbox's poller lease (renewed every third of it); another
    # takes over within this once the holder stops renewing (at once when it died on this host).
    lease_seconds: int = Field(default=30, ge=3, le=3600)
    # In IDLE, also ask the server (NOOP) this often; 0: IDLE alone. For a server that announces
    # new mail late (Dovecot: 0.5 s after it arrived) when an acknowledgement must leave sooner.
    check_seconds: float = Field(default=0.0, ge=0.0, le=60.0)
    path: str = "var/maildir"
    ca_file: str = ""


class CategoryRule(Section):
    name: str
    keywords: list[str]
    priority: Literal["normal", "high", "urgent"] = "normal"


class HelpdeskSettings(Section):
    address: str = "soporte@ventanilla.example"
    name: str = "Soporte Ventanilla"
    language: Literal["es", "en"] = "es"
    own_addresses: list[str] = []
    agents: list[str] = []
    supervisors: list[str] = []
    secret: SecretStr = SecretStr("")  # none built in: see config/secret.py
    instance_id: str = "ventanilla"
    categories: list[CategoryRule] = []

    @field_validator("address", "agents", "supervisors", "own_addresses", mode="after")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v.strip().lower() for v in value]
        return value.strip().lower()


class LimitsSettings(Section):
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=100 * 1024, ge=1024)
    max_parts: int = Field(default=500, ge=1)
    max_depth: int = Field(default=20, ge=1)
    max_line_bytes: int = Field(default=100_000, ge=998)
    max_received_headers: int = Field(default=50, ge=1)
    parse_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)


class OutboundSettings(Section):
    kind: Literal["smtp", "file"] = "file"
    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "starttls"
    username: str = ""
    password: SecretStr = SecretStr("")
    path: str = "var/outbox"
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_age_hours: float = Field(default=120.0, gt=0)
    acks_per_sender_per_hour: int = Field(default=5, ge=0)
    # SMTP connections sending at once (each its own session with the relay); mail to one ticket
    # may then arrive out of the order it was queued in. Relays often cap connections per client.
    connections: int = Field(default=1, ge=1, le=16)


class TemplatesSettings(Section):
    path: str = ""


class LoggingSettings(Section):
    format: Literal["text", "json"] = "text"  # json: one object per line, with its fields


class Settings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    database: DatabaseSettings = DatabaseSettings()
    inbox: InboxSettings = InboxSettings()
    helpdesk: HelpdeskSettings = HelpdeskSettings()
    limits: LimitsSettings = LimitsSettings()
    outbound: OutboundSettings = OutboundSettings()
    templates: TemplatesSettings = TemplatesSettings()
    calendar: CalendarSettings = CalendarSettings()
    agents: AgentSettings = AgentSettings()
    phone: PhoneSettings = PhoneSettings()
    sla: SlaSettings = SlaSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    logging: LoggingSettings = LoggingSettings()
    web: WebSettings = WebSettings()
    faq: FaqSettings = FaqSettings()
    retention: RetentionSettings = RetentionSettings()

    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _groups_of_agents(self) -> "Settings":
        problem = unknown_members(self.agents.groups, self.helpdesk.agents)
        if problem:  # a custom error: the message alone, without pydantic's "Value error, "
            raise PydanticCustomError("agent_groups", "agents.groups: {problem}", {"problem": problem})
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, which arrives as init kwargs.
        return (env_settings, init_settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _one_line(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(root)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{key}: {msg}")
    return f"invalid configuration in {source}: " + "; ".join(parts)


def config_path_from(cli_path: str | os.PathLike[str] | None) -> Path | None:
    """The config file named on the command line, else by VENTANILLA_CONFIG, else none."""
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(ENV_PREFIX + "CONFIG")
    return Path(env) if env else None


def load_settings(path: str | os.PathLike[str] | None = None) -> tuple[Settings, str]:
    """Build the settings; return them and a description of where they came from."""
    file = config_path_from(path)
    data = _read_toml(DEFAULT_TOML) if file is None else _read_toml(file)
    source = f"embedded default ({DEFAULT_TOML.name})" if file is None else str(file)
    env_keys = sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG")
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        where = source + (" + environment" if env_keys else "")
        raise ConfigError(_one_line(exc, where)) from None
    return settings, source
