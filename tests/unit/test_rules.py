"""Pure decisions: threading, language, category, SLA, acknowledgements."""


import pytest

from tickets.ingest import rules
from tickets.values import Address, IncomingMessage


def msg(sender: str = "ana@correo.example", **kw) -> IncomingMessage:
    return IncomingMessage(message_id="<m@x>", sender=Address(name="", email=sender), raw_sha256="0" * 64, **kw)


def facts(tid: int, status: str = "open", who: tuple[str, ...] = ("ana@correo.example",)) -> rules.TicketFacts:
    return rules.TicketFacts(id=tid, status=status, participants=frozenset(who))


@pytest.mark.parametrize(
    ("sender", "headers", "subject", "token", "expected"),
    [
        ("ana@correo.example", [facts(7)], [], [], ("join", 7)),
        ("ana@correo.example", [], [facts(7)], [], ("join", 7)),
        ("eve@evil.example", [facts(7)], [], [], ("new", None)),  # forged In-Reply-To
        ("eve@evil.example", [], [facts(7)], [], ("new", None)),  # stranger quoting [#7]
        ("eve@evil.example", [], [], [facts(7)], ("join", 7)),  # a valid token admits
        ("ana@correo.example", [facts(7, "closed")], [], [], ("new-linked", 7)),
        ("ana@correo.example", [], [], [], ("new", None)),
    ],
)
def test_decide_thread(sender, headers, subject, token, expected) -> None:
    decision = rules.decide_thread(msg(sender), by_headers=headers, by_subject=subject, by_token=token)
    assert (decision.action, decision.ticket_id) == expected


def test_subject_refs() -> None:
    assert rules.subject_ticket_refs("Re: [#12] certificado [#3]") == (12, 3)
    assert rules.subject_ticket_refs("#12 sin corchetes") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hola, no puedo descargar mi certificado, gracias", "es"),
        ("Hello, I cannot export my certificate from the browser, thanks", "en"),
        ("12345", "es"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert rules.detect_language(text, "es") == expected


def test_categorise_folds_accents_and_case() -> None:
    spec = (rules.CategoryRuleSpec(name="revocation", keywords=("revocación",), priority="urgent"),)
    assert rules.categorise("", spec, subject="Quiero la REVOCACION de mi certificado") == ("revocation", "urgent")
    assert rules.categorise("Quiero la REVOCACION de mi certificado", spec) == ("revocation", "normal")  # body only
    assert rules.categorise("otra cosa", spec) == ("general", "normal")


@pytest.mark.parametrize(
    ("message", "recent", "refused"),
    [
        (msg(), 0, ""),
        (msg(auto="auto-reply"), 0, "no ack: auto-reply"),
        (msg("soporte@ventanilla.example"), 0, "no ack: sender is our own address"),
        (msg("MAILER-DAEMON@mx.example".lower()), 0, "no ack: no-reply or system sender"),
        (msg("noreply@bank.example"), 0, "no ack: no-reply or system sender"),
        (msg(), 5, "no ack: rate limit (5 per sender per hour)"),
    ],
)
def test_ack_refusal(message: IncomingMessage, recent: int, refused: str) -> None:
    own = frozenset({"soporte@ventanilla.example"})
    assert rules.ack_refusal(message, own_addresses=own, acks_last_hour=recent, limit=5) == refused


def test_escalates_again_only_on_an_explicit_escalation_of_an_escalated_ticket() -> None:
    from tickets.ingest.rules import escalates_again

    assert escalates_again("escalated", "escalated", "still waiting for registry")
    assert not escalates_again("escalated", "escalated", "")  # no reason: not an explicit #escalate
    assert not escalates_again("open", "escalated", "needs registry")  # a first escalation
    assert not escalates_again("pending", "pending", "")


@pytest.mark.parametrize(
    ("address", "own"),
    [
        ("soporte@ventanilla.example", True),
        ("Soporte@Ventanilla.Example", True),
        ("Soporte+Ventas@ventanilla.example", True),
        ("soporte+b12.abc+x@VENTANILLA.example", True),
        ("ayuda+lo-que-sea@ventanilla.example", True),  # an alias and its sub-addresses
        (" soporte@ventanilla.example ", True),
        ("soporte@ventanilla.example.evil.org", False),
        ("soporte-ventas@ventanilla.example", False),
        ("maria@example.org", False),
        ("", False),
    ],
)
def test_is_own_address_any_case_any_sub_address(address: str, own: bool) -> None:
    ours = frozenset({"soporte@ventanilla.example", "Ayuda@ventanilla.example"})
    assert rules.is_own_address(address, ours) is own


def test_own_plus_address_configured_covers_its_mailbox() -> None:
    assert rules.is_own_address("soporte@ventanilla.example", {"soporte+ventas@ventanilla.example"})
    assert rules.not_own(
        ["maria@example.org", "Soporte+Ventas@ventanilla.example", "pepe@example.org", "maria@example.org", ""],
        {"soporte@ventanilla.example"},
    ) == ("maria@example.org", "pepe@example.org")


def test_a_reply_to_one_of_our_robots_is_never_acknowledged() -> None:
    own = frozenset({"soporte@ventanilla.example"})
    refusal = rules.ack_refusal(msg(), own_addresses=own, acks_last_hour=0, limit=5, answers_robot="ack")
    assert refusal == "no ack: a reply to our automatic message (ack)"
    assert rules.ack_refusal(msg(), own_addresses=own, acks_last_hour=0, limit=5) == ""
