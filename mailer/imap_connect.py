"""Connecting to an IMAP server and logging in: TLS or STARTTLS (never a fallback to cleartext),
a password or an XOAUTH2 access token printed by the operator's command.

Blocking (imapclient); `mailer.imap.ImapSource` calls it from its thread.
"""

import shlex
import ssl
import subprocess
from collections.abc import Callable
from contextlib import suppress

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from config.settings import InboxSettings
from mailer.errors import InsecureConnectionError, SourceAuthError, SourceUnavailableError

TOKEN_COMMAND_SECONDS = 30.0

SecretProvider = Callable[[], str]


def connect(settings: InboxSettings, provider: SecretProvider | None = None) -> IMAPClient:
    """A logged-in client (aware INTERNALDATEs); the connection is closed again on any failure.

    `provider`, when given, returns the secret instead of the settings: the password for auth
    "password", a fresh access token for auth "xoauth2".
    """
    client = _dial(settings)
    try:
        if settings.security == "starttls":
            _starttls(client, settings)
        _login(client, settings, provider)
    except BaseException:
        shutdown(client)
        raise
    client.normalise_times = False  # aware INTERNALDATEs, not naive local time
    return client


def shutdown(client: IMAPClient) -> None:
    """Close the socket at once (no LOGOUT): the connection may already be gone."""
    with suppress(Exception):
        client.shutdown()


def _dial(s: InboxSettings) -> IMAPClient:
    tls = s.security == "tls"
    try:
        return IMAPClient(
            s.host,
            port=s.port,
            ssl=tls,
            ssl_context=_ssl_context(s) if tls else None,
            timeout=s.timeout_seconds,
        )
    except ssl.SSLCertVerificationError as exc:
        raise InsecureConnectionError(
            f"{s.name}: certificate of {s.host} rejected: {exc.verify_message}"
        ) from exc


def _ssl_context(s: InboxSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=s.ca_file or None)


def _starttls(client: IMAPClient, s: InboxSettings) -> None:
    """Upgrade or refuse: never fall back to cleartext."""
    if not client.has_capability("STARTTLS"):
        raise InsecureConnectionError(f"{s.name}: server does not offer STARTTLS")
    try:
        client.starttls(_ssl_context(s))
    except (ssl.SSLError, IMAPClientError) as exc:
        raise InsecureConnectionError(f"{s.name}: STARTTLS failed: {exc}") from exc


def _login(client: IMAPClient, s: InboxSettings, provider: SecretProvider | None) -> None:
    try:
        if s.auth == "xoauth2":
            client.oauth2_login(s.username, (provider or (lambda: token_from_command(s)))())
        else:
            client.login(s.username, (provider or s.password.get_secret_value)())
    except LoginError as exc:
        if "UNAVAILABLE" in str(exc):  # RFC 5530: a temporary server-side failure
            raise SourceUnavailableError(f"{s.name}: login unavailable: {exc}") from exc
        raise SourceAuthError(f"{s.name}: {s.auth} login refused: {exc}") from exc


def token_from_command(s: InboxSettings) -> str:
    """Run oauth2_token_command; its stdout is a fresh access token."""
    command = s.oauth2_token_command
    if not command.strip():
        raise SourceAuthError(f"{s.name}: auth xoauth2 needs oauth2_token_command")
    try:
        done = subprocess.run(
            shlex.split(command),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TOKEN_COMMAND_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SourceAuthError(
            f"{s.name}: oauth2_token_command timed out after {TOKEN_COMMAND_SECONDS:g} s"
        ) from exc
    except OSError as exc:
        raise SourceAuthError(f"{s.name}: oauth2_token_command cannot run: {exc}") from exc
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        detail = done.stderr.strip()[-200:] or "no output"
        raise SourceAuthError(
            f"{s.name}: oauth2_token_command failed (exit status {done.returncode}): {detail}"
        )
    return token
