"""Only the topmost Authentication-Results with our authserv-id counts (RFC 8601 section 5)."""

import pytest

from tickets.agents.auth_results import authserv_id, check, results

OURS = "mx.ventanilla.example"
PASS = (
    f"{OURS}; dkim=pass (2048-bit key) header.d=ventanilla.example header.s=s1; spf=pass;"
    " dmarc=pass header.from=ventanilla.example"
)
FAIL = f"{OURS}; dkim=none; spf=softfail smtp.mailfrom=evil.example; dmarc=fail header.from=ventanilla.example"
AGENT = "ana@ventanilla.example"


def test_parsing() -> None:
    assert authserv_id(f"{OURS} 1; none") == OURS
    assert authserv_id(f"(comment) {OURS.upper()}; dkim=pass") == OURS
    found = results(PASS)
    assert [(r.method, r.result) for r in found] == [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
    assert found[0].prop("header.d") == "ventanilla.example"


@pytest.mark.parametrize(
    ("headers", "passed"),
    [
        ((PASS,), True),
        ((FAIL,), False),
        ((FAIL, PASS), False),  # a forged pass below ours is ignored
        (("other.example; dmarc=pass", FAIL), False),  # someone else's claim above does not count
        (("other.example; dmarc=pass",), False),
        ((), False),
        ((f"{OURS}; dkim=pass header.d=ventanilla.example; dmarc=none",), True),  # aligned DKIM
        ((f"{OURS}; dkim=pass header.d=evil.example; dmarc=none",), False),  # unaligned DKIM
        ((f"{OURS}; dkim=pass header.i=@mail.ventanilla.example",), False),
        ((f"{OURS}; dkim=pass header.d=ventanilla.example.evil.org",), False),
        ((f"{OURS}; dkim=pass (comment; dmarc=pass) header.d=x.example",), False),
        (("mx.ventanilla.example.evil.org; dmarc=pass",), False),
    ],
)
def test_check(headers: tuple[str, ...], passed: bool) -> None:
    assert check(headers, OURS, sender=AGENT).passed is passed


def test_subdomain_sender_aligns_with_its_organisation() -> None:
    header = f"{OURS}; dkim=pass header.d=ventanilla.example"
    assert check((header,), OURS, sender="ana@mail.ventanilla.example").passed
