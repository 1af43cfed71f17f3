"""The helpdesk secret, resolved once for the whole process (see config/secret.py)."""

import secrets
from collections.abc import Mapping
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy.engine import Engine

from config.secret import ResolvedSecret, resolve
from config.settings import Settings
from tickets.instance import SECRET_KEY, put_once, read_setting

GENERATED_BYTES = 32


def generate_secret() -> str:
    """32 random bytes, URL-safe text (43 characters)."""
    return secrets.token_urlsafe(GENERATED_BYTES)


def configured_secret(settings: Settings) -> str:
    return settings.helpdesk.secret.get_secret_value()


def ensure_secret(settings: Settings, engine: Engine, now: datetime) -> bool:
    """With no secret configured, generate one and keep it in the database, once for all
    workers and upgrades; True when this call generated it."""
    if configured_secret(settings):
        return False
    return put_once(engine, SECRET_KEY, generate_secret(), now)


def resolve_secret(settings: Settings, engine: Engine, environ: Mapping[str, str]) -> ResolvedSecret:
    """The secret in force (SecretError, one line, when there is none or it is unfit)."""
    configured = configured_secret(settings)
    stored = None if configured else read_setting(engine, SECRET_KEY)
    return resolve(configured, stored, environ)


def with_secret(settings: Settings, value: str) -> Settings:
    """The settings with `[helpdesk] secret` set to the resolved value."""
    helpdesk = settings.helpdesk.model_copy(update={"secret": SecretStr(value)})
    return settings.model_copy(update={"helpdesk": helpdesk})
