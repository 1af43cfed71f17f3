"""Authentication-Results (RFC 8601) as our own MTA wrote it. Pure.

Only the topmost header that carries OUR authserv-id counts: our MTA prepends its result
above everything the sender wrote, so any header lower down with our id, or with someone
else's, is the sender's claim and is ignored (RFC 8601 section 5).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^([a-z0-9-]+)(?:/\d+)?\s*=\s*([a-z]+)(.*)$", re.S)
_PROPERTY = re.compile(r"\b(header|smtp|body|policy)\.([a-z0-9-]+)\s*=\s*\"?([^\s;\"]+)\"?")


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthVerdict:
    passed: bool
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodResult:
    method: str
    result: str
    properties: tuple[tuple[str, str], ...] = ()

    def prop(self, name: str) -> str:
        return dict(self.properties).get(name, "")


def _uncomment(value: str) -> str:
    previous = None
    while previous != value:  # nested comments, innermost first
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def authserv_id(header: str) -> str:
    """The authserv-id of one Authentication-Results value ('' when there is none)."""
    head = _uncomment(header).split(";", 1)[0].strip().lower()
    return head.split()[0] if head else ""


def results(header: str) -> tuple[MethodResult, ...]:
    """The method results of one Authentication-Results value."""
    found: list[MethodResult] = []
    for part in _uncomment(header).lower().split(";")[1:]:
        match = _RESULT.match(part.strip())
        if match is None:
            continue
        method, result, rest = match.groups()
        props = tuple((f"{p}.{n}", v) for p, n, v in _PROPERTY.findall(rest))
        found.append(MethodResult(method=method, result=result, properties=props))
    return tuple(found)


def ours(headers: Sequence[str], our_id: str) -> str | None:
    """The topmost header with our authserv-id (headers are given top first), or None."""
    wanted = our_id.strip().lower()
    return next((h for h in headers if wanted and authserv_id(h) == wanted), None)


def _aligned(domain: str, sender_domain: str) -> bool:
    domain = domain.lstrip("@").rpartition("@")[2]  # header.i is an address or @domain
    return bool(domain) and (sender_domain == domain or sender_domain.endswith("." + domain))


def check(headers: Sequence[str], our_id: str, *, sender: str) -> AuthVerdict:
    """Pass when our topmost result shows DMARC pass, or DKIM pass aligned with the From domain."""
    header = ours(headers, our_id)
    if header is None:
        return AuthVerdict(passed=False, reason=f"no Authentication-Results from {our_id}")
    sender_domain = sender.strip().lower().rpartition("@")[2]
    found = results(header)
    if any(r.method == "dmarc" and r.result == "pass" for r in found):
        return AuthVerdict(passed=True, reason="dmarc=pass")
    for r in found:
        signer = r.prop("header.d") or r.prop("header.i")
        if r.method == "dkim" and r.result == "pass" and _aligned(signer, sender_domain):
            return AuthVerdict(passed=True, reason=f"dkim=pass header.d={signer}")
    summary = ", ".join(f"{r.method}={r.result}" for r in found) or "no results"
    return AuthVerdict(passed=False, reason=f"{our_id}: {summary}")
