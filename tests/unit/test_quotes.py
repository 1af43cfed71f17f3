"""Quote and signature stripping on replies written by real clients, in Spanish and English."""

from pathlib import Path

import pytest

from mailer.quotes import strip_reply

REPLIES = Path(__file__).parent.parent / "data" / "replies"
SAMPLES = sorted(p.name[: -len(".txt")] for p in REPLIES.glob("*.txt") if not p.name.endswith(".expected.txt"))


def test_there_is_a_sample_for_each_client_in_both_languages() -> None:
    for client in ("gmail", "outlook", "thunderbird", "apple"):
        for language in ("es", "en"):
            assert any(s.startswith(client) and f"_{language}" in s for s in SAMPLES), (client, language)


@pytest.mark.parametrize("name", SAMPLES)
def test_only_the_new_text_remains(name: str) -> None:
    body = (REPLIES / f"{name}.txt").read_bytes().decode("utf-8")  # keep CRLF as mail has it
    expected = (REPLIES / f"{name}.expected.txt").read_text(encoding="utf-8").strip("\n")
    stripped = strip_reply(body)
    assert stripped == expected
    assert "QUOTED-HISTORY" not in stripped
    assert "#close" not in stripped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Just text", "Just text"),
        ("", ""),
        ("> all quoted\n> here", ""),
        ("Answer\n\n> quote\n\nmore below the quote", "Answer"),
        ("Answer\n--\nSig", "Answer"),
        ("Answer\n\nObtener Outlook para Android", "Answer"),
        ("Answer\n\nGet Outlook for iOS", "Answer"),
        ("Elena wrote this line: fine", "Elena wrote this line: fine"),
        ("On Monday we will call you.\nThanks", "On Monday we will call you.\nThanks"),
        ("Answer\n-------- Forwarded Message --------\nFrom: x", "Answer"),
        # The library's rule: a line "From: ..." starts quoted headers. Cutting too much is the safe side.
        ("Answer\nFrom: the start it was wrong\nand it goes on", "Answer"),
    ],
)
def test_rules(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


@pytest.mark.parametrize("first", ["Le llamamos hoy.", "El martes le llamamos.", "On it."])
def test_a_line_starting_like_an_attribution_is_text(first: str) -> None:
    text = f"{first}\n\nOn Mon, Oct 5, 2026 at 10:00 AM Soporte <s@x.example> wrote:\n> old"
    assert strip_reply(text) == first
