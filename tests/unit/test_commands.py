"""Agent commands: only leading lines, every command alone and combined, errors with the list."""

import pytest

from tickets.agents.commands import HELP, parse_commands


@pytest.mark.parametrize(
    ("line", "name", "argument", "status"),
    [
        ("#pending", "pending", "", "pending"),
        ("#open", "open", "", "open"),
        ("#escalate needs level 2", "escalate", "needs level 2", "escalated"),
        ("#resolve", "resolve", "", "resolved"),
        ("#close", "close", "", "closed"),
        ("#note", "note", "", ""),
        ("#note call her back", "note", "call her back", ""),
        ("#assign Luis@Ventanilla.example", "assign", "luis@ventanilla.example", ""),
        ("#priority urgent", "priority", "urgent", ""),
        ("#PRIORITY High", "priority", "high", ""),
        ("#prioridad alta", "priority", "high", ""),
        ("#category export-import", "category", "export-import", ""),
        ("#cerrar", "close", "", "closed"),
        ("#pendiente", "pending", "", "pending"),
    ],
)
def test_each_command_alone(line: str, name: str, argument: str, status: str) -> None:
    parsed = parse_commands(f"{line}\n\nHello")
    assert parsed.errors == ()
    assert [(c.name, c.argument) for c in parsed.commands] == [(name, argument)]
    assert parsed.status == status and parsed.body == "Hello"


def test_combined_commands_and_body() -> None:
    parsed = parse_commands(
        "\n#priority high\n#assign luis@ventanilla.example\n\n#escalate registry\nHi Maria,\n#close"
    )
    assert [c.name for c in parsed.commands] == ["priority", "assign", "escalate"]
    assert parsed.status == "escalated"
    assert parsed.body == "Hi Maria,\n#close"  # a command below the first text line is text


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("#frobnicate", "unknown command #frobnicate"),
        ("#escalate", "needs a reason"),
        ("#pending now", "takes no argument"),
        ("#priority whenever", "must be one of"),
        ("#assign", "needs one agent address"),
        ("#assign not an address", "needs one agent address"),
        ("#category", "needs a category name"),
        ("#pending\n#close", "conflicting status commands"),
        ("#priority high\n#priority normal", "given twice"),
        ("#pending\n#frobnicate\nHello", "unknown command"),
    ],
)
def test_errors(text: str, error: str) -> None:
    parsed = parse_commands(text)
    assert any(error in e for e in parsed.errors), parsed.errors


def test_no_commands_when_text_comes_first_or_hash_is_not_a_word() -> None:
    assert parse_commands("Hello\n#close").commands == ()
    assert parse_commands("#123 is your ticket").commands == ()
    assert parse_commands("# heading\n#close").commands == ()
    assert parse_commands("> #close").commands == ()


def test_help_lists_every_command() -> None:
    for name in ("pending", "open", "escalate", "resolve", "close", "note", "assign", "priority", "category"):
        assert any(h.startswith(f"#{name}") for h in HELP)
