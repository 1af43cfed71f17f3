"""CSRF tokens of the web form, signed with a key derived from the instance secret. Pure.

The form carries `issued.nonce.signature`; the same nonce comes back in a SameSite cookie set
with the page (a signed double submit). The token also dates the page: the minimum fill time is
measured from `issued`, which nobody can forge without the secret.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_AGE = timedelta(hours=12)


class CsrfError(Exception):
    """The form's token is missing, forged or out of date."""


@dataclass(frozen=True, slots=True)
class CsrfKey:
    """A key for the form's tokens only, derived from the helpdesk secret (never the secret itself)."""

    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> "CsrfKey":
        if not secret:
            raise CsrfError("no helpdesk secret: the web form cannot sign its tokens")
        return cls(hmac.new(secret.encode(), b"ventanilla web-form csrf v1", hashlib.sha256).digest())

    def _sign(self, issued: int, nonce: str) -> str:
        mac = hmac.new(self.key, f"{issued}.{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, nonce: str, now: datetime) -> str:
        """A token for a page served `now` to the browser holding `nonce` in its cookie."""
        issued = int(now.timestamp() * 1000)
        return f"{issued}.{nonce}.{self._sign(issued, nonce)}"

    def check(self, token: str, cookie_nonce: str, now: datetime) -> datetime:
        """When the page was served; CsrfError when the token is not ours, not this browser's or stale."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not cookie_nonce:
            raise CsrfError("malformed or missing token")
        issued_ms, nonce, signature = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(signature, self._sign(issued_ms, nonce)):
            raise CsrfError("bad signature")
        if not hmac.compare_digest(nonce, cookie_nonce):
            raise CsrfError("token of another browser")
        issued = datetime.fromtimestamp(issued_ms / 1000, UTC)
        if not timedelta(minutes=-5) <= now - issued <= MAX_AGE:
            raise CsrfError("token out of date")
        return issued

    def pseudonym(self, kind: str, value: str) -> str:
        """A keyed hash of an address for the abuse counters (never stored in the clear)."""
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
