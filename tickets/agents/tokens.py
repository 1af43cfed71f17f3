"""Signed reply tokens: who a notification was sent to, about which ticket (invariant 4). Pure.

A token reads `t<ticket>.<role><recipient>.k<kid>.<mac>`, e.g. `t123.a7.k1.<24 base32 chars>`.
The MAC is HMAC-SHA256(key[kid], purpose | ticket | role+recipient | recipient address),
truncated to 120 bits and written in lower-case base32 so that it survives mail systems
that fold the case of local parts. Binding the address means a token only ever proves
something for the one mailbox it was minted for: presented with another `From:` it fails.
Tokens travel only as a plus-address (`support+t123.a7.k1.<mac>@example.test`), the Reply-To of
the mail sent to that recipient. Never inside a Message-ID: Message-IDs travel in the References
of every later mail of the thread, including mail an agent copies to the user, so whoever is in
the thread could lift a token from there and write to it as the agent.
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAC_BYTES = 15  # 120 bits (>= 96 required)
MAC_CHARS = 24  # base32 of 15 bytes, no padding
ROLES = ("a", "r")  # agent, requester (or someone in copy)
_DOMAIN_SEP = b"ventanilla reply token v1"
TOKEN_PATTERN = rf"t(\d{{1,12}})\.([ar])(\d{{1,9}})\.k([a-z0-9]{{1,8}})\.([a-z2-7]{{{MAC_CHARS}}})"
_TOKEN = re.compile(TOKEN_PATTERN)


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyring:
    """Token keys by id; new tokens use `current`. Remove an id to revoke its tokens."""

    keys: tuple[tuple[str, bytes], ...]
    current: str

    @classmethod
    def of(cls, keys: Mapping[str, str | bytes], current: str) -> "Keyring":
        items = tuple((kid, k.encode() if isinstance(k, str) else k) for kid, k in keys.items())
        if not all(key for _, key in items):
            raise ValueError("an empty token key: there is no built-in secret (see config/secret.py)")
        if current not in dict(items):
            raise ValueError(f"current key id {current!r} is not in the keyring")
        return cls(keys=items, current=current)

    def key(self, kid: str) -> bytes | None:
        return dict(self.keys).get(kid)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyToken:
    ticket_id: int
    role: str  # "a" agent | "r" requester
    recipient_id: int
    kid: str
    mac: str

    def text(self) -> str:
        """The token as it appears in a reply address."""
        return f"t{self.ticket_id}.{self.role}{self.recipient_id}.k{self.kid}.{self.mac}"


def _mac(key: bytes, *, purpose: str, ticket_id: int, role: str, recipient_id: int, email: str, epoch: int) -> str:
    derived = hmac.new(key, _DOMAIN_SEP, hashlib.sha256).digest()
    fields = [purpose, str(ticket_id), f"{role}{recipient_id}", email.strip().lower()]
    if epoch:  # epoch 0 keeps the tokens minted before epochs existed valid
        fields.append(f"e{epoch}")
    message = "\x00".join(fields)
    digest = hmac.new(derived, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest[:MAC_BYTES]).decode("ascii").lower()


def mint(
    keyring: Keyring,
    *,
    ticket_id: int,
    role: str,
    recipient_id: int,
    email: str,
    purpose: str = "reply",
    epoch: int = 0,
) -> ReplyToken:
    """A token for `email` (the recipient's own address) on one ticket, with the current key.

    `epoch` is the ticket's token epoch: raising it (when a reply address was seen by someone
    outside) makes every token minted before worthless, without changing the key.
    """
    if role not in ROLES or ticket_id < 1 or recipient_id < 0:
        raise ValueError("bad token fields")
    key = keyring.key(keyring.current)
    assert key is not None
    mac = _mac(
        key, purpose=purpose, ticket_id=ticket_id, role=role, recipient_id=recipient_id, email=email, epoch=epoch
    )
    return ReplyToken(ticket_id=ticket_id, role=role, recipient_id=recipient_id, kid=keyring.current, mac=mac)


def verify(keyring: Keyring, token: ReplyToken, *, email: str, purpose: str = "reply", epoch: int = 0) -> bool:
    """Whether `token` was minted by us for `email` at `epoch`; constant time in the MAC comparison."""
    key = keyring.key(token.kid)
    if key is None:  # unknown or retired key id
        return False
    expected = _mac(
        key,
        purpose=purpose,
        ticket_id=token.ticket_id,
        role=token.role,
        recipient_id=token.recipient_id,
        email=email,
        epoch=epoch,
    )
    return hmac.compare_digest(expected.encode("ascii"), token.mac.encode("ascii"))


def parse(text: str) -> ReplyToken | None:
    """The token written exactly as `text` (case-insensitive), or None."""
    match = _TOKEN.fullmatch(text.strip().lower())
    return None if match is None else _from_match(match)


def _from_match(match: re.Match[str]) -> ReplyToken:
    ticket, role, rid, kid, mac = match.groups()
    return ReplyToken(ticket_id=int(ticket), role=role, recipient_id=int(rid), kid=kid, mac=mac)


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return local, domain


def reply_address(helpdesk_address: str, token: ReplyToken) -> str:
    """`local+<token>@domain` of the helpdesk address."""
    local, domain = _split(helpdesk_address)
    return f"{local}+{token.text()}@{domain}"


def token_from_address(address: str, helpdesk_address: str) -> ReplyToken | None:
    """The token of one of our plus-addresses, or None for any other address."""
    local, domain = _split(helpdesk_address)
    got_local, got_domain = _split(address)
    prefix = f"{local}+"
    if got_domain != domain or not got_local.startswith(prefix):
        return None
    return parse(got_local[len(prefix) :])


def find_tokens(*, addresses: Iterable[str], helpdesk_address: str) -> tuple[ReplyToken, ...]:
    """Every well-formed token in these recipient addresses, deduplicated."""
    found = (token_from_address(a, helpdesk_address) for a in addresses)
    return tuple(dict.fromkeys(t for t in found if t is not None))
