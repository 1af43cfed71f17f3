"""Signed reply tokens: bound to ticket, recipient and address; rotatable; tamper-evident."""

import pytest

from tickets.agents import tokens

RING = tokens.Keyring.of({"1": "first-secret-0123456789", "2": "second-secret-0123456789"}, "1")
HELPDESK = "soporte@ventanilla.example"
ANA = "ana@ventanilla.example"


def token(**kw) -> tokens.ReplyToken:  # type: ignore[no-untyped-def]
    values = {"ticket_id": 123, "role": "a", "recipient_id": 7, "email": ANA} | kw
    return tokens.mint(RING, **values)


def test_round_trip_through_a_plus_address() -> None:
    t = token()
    address = tokens.reply_address(HELPDESK, t)
    assert address.startswith("soporte+t123.a7.k1.") and address.endswith("@ventanilla.example")
    assert len(t.mac) * 5 >= 96 and len(address.split("@")[0]) <= 64
    back = tokens.token_from_address(address.upper(), HELPDESK)
    assert back == t and tokens.verify(RING, back, email=ANA)


def test_round_trip_through_its_text() -> None:
    t = token()
    assert tokens.parse(t.text()) == t


@pytest.mark.parametrize(
    ("email", "ticket", "purpose"),
    [("luis@ventanilla.example", 123, "reply"), (ANA, 124, "reply"), (ANA, 123, "other")],
)
def test_token_proves_nothing_for_another_address_ticket_or_purpose(email: str, ticket: int, purpose: str) -> None:
    t = token()
    moved = tokens.ReplyToken(ticket_id=ticket, role=t.role, recipient_id=t.recipient_id, kid=t.kid, mac=t.mac)
    assert not tokens.verify(RING, moved, email=email, purpose=purpose)


def test_every_single_character_change_is_rejected() -> None:
    t = token()
    text = t.text()
    for i, ch in enumerate(text):
        for other in {"a", "2", "z", "9", "."} - {ch}:
            changed = tokens.parse(text[:i] + other + text[i + 1 :])
            assert changed is None or not tokens.verify(RING, changed, email=ANA), (i, other)


def test_truncated_and_padded_tokens_do_not_parse() -> None:
    text = token().text()
    assert tokens.parse(text[:-1]) is None
    assert tokens.parse(text + "a") is None
    assert tokens.token_from_address(f"soporte+{text[:-4]}@ventanilla.example", HELPDESK) is None


def test_rotation_old_key_still_verifies_until_removed() -> None:
    old = token()
    rotated = tokens.Keyring.of(dict((k, v) for k, v in RING.keys), "2")
    assert tokens.mint(rotated, ticket_id=123, role="a", recipient_id=7, email=ANA).kid == "2"
    assert tokens.verify(rotated, old, email=ANA)
    retired = tokens.Keyring.of({"2": "second-secret-0123456789"}, "2")
    assert not tokens.verify(retired, old, email=ANA)


def test_other_addresses_carry_no_token() -> None:
    t = token()
    for address in (
        f"soporte+{t.text()}@evil.example",
        f"other+{t.text()}@ventanilla.example",
        "soporte@ventanilla.example",
        f"soporte+{t.text()}@ventanilla.example.evil.org",
    ):
        assert tokens.token_from_address(address, HELPDESK) is None


def test_find_tokens_collects_from_addresses_only() -> None:
    """A token is proof only in the address a mail was sent to: never read from a Message-ID (item 7)."""
    t = token()
    u = token(ticket_id=9)
    found = tokens.find_tokens(
        addresses=[tokens.reply_address(HELPDESK, t), "maria@example.org", tokens.reply_address(HELPDESK, u)],
        helpdesk_address=HELPDESK,
    )
    assert found == (t, u)
    assert tokens.find_tokens(addresses=[f"<n.9.{u.text()}@ventanilla.example>"], helpdesk_address=HELPDESK) == ()


def test_keyring_needs_its_current_key() -> None:
    with pytest.raises(ValueError):
        tokens.Keyring.of({"1": "x" * 20}, "2")


def test_a_token_holds_only_at_the_epoch_it_was_minted_for() -> None:
    """Raising a ticket's epoch (its reply address was seen outside) retires every older token."""
    old, new = token(), token(epoch=1)
    assert old.mac != new.mac and old.text().split(".")[:3] == new.text().split(".")[:3]
    assert tokens.verify(RING, old, email=ANA, epoch=0) and not tokens.verify(RING, old, email=ANA, epoch=1)
    assert tokens.verify(RING, new, email=ANA, epoch=1)
    assert not tokens.verify(RING, new, email=ANA, epoch=0) and not tokens.verify(RING, new, email=ANA, epoch=2)


def test_the_mac_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """E47: no early exit on the first differing character (a timing oracle): the comparison is
    hmac.compare_digest's, whatever the token. A timing measurement would be noise on a shared CI."""
    seen: list[tuple[bytes, bytes]] = []
    real = tokens.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    good = token()
    assert tokens.verify(RING, good, email=ANA)
    forged = tokens.parse(good.text()[:-1] + ("b" if good.text()[-1] != "b" else "c"))
    assert forged is not None and not tokens.verify(RING, forged, email=ANA)
    assert len(seen) == 2, "a MAC was compared some other way"
