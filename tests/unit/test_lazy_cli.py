"""Commands load their module when they run: `--help` still lists every one with its own help text,
and a command imports neither the other commands nor the libraries only they use."""

import inspect
import subprocess
import sys
import textwrap

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from ventanilla import cli, tickets_cli
from ventanilla.lazy_cli import Lazy, load_command

GROUPS = {"ventanilla": cli.COMMANDS, "ventanilla tickets": tickets_cli.COMMANDS}
LAZY = [(group, entry) for group, entries in GROUPS.items() for entry in entries if isinstance(entry, Lazy)]


def _listed_help(command: object) -> str:
    """What a group's --help shows for a command: the first paragraph of its help, on one line."""
    text = getattr(command, "short_help", None) or getattr(command, "help", None) or ""
    return " ".join(inspect.cleandoc(text).split("\n\n")[0].split())


@pytest.mark.parametrize(("group", "entry"), LAZY, ids=[f"{g} {e.name}" for g, e in LAZY])
def test_the_listed_help_is_the_commands_own(group: str, entry: Lazy) -> None:
    command = load_command(entry)
    assert command.name == entry.name
    assert entry.help == _listed_help(command), f"{group} {entry.name}: update its Lazy(help=...)"


@pytest.mark.parametrize("group", ["ventanilla", "ventanilla tickets"])
def test_help_lists_every_command_before_and_after_they_load(group: str) -> None:
    args = group.split()[1:]
    first = CliRunner().invoke(cli.app, [*args, "--help"], terminal_width=200)
    assert first.exit_code == 0, first.output
    root = get_command(cli.app)
    ctx = root.make_context("ventanilla", [*args, "--help"], resilient_parsing=True)
    target = root.get_command(ctx, args[0]) if args else root  # type: ignore[attr-defined]
    for name in target.list_commands(ctx):  # type: ignore[union-attr]
        assert target.get_command(ctx, name) is not None  # type: ignore[union-attr]
    names = [e if isinstance(e, str) else e.name for e in GROUPS[group]]
    for name in names:
        assert f" {name} " in first.output, name
    listed = [line.split()[1] for line in first.output.splitlines() if line.startswith("│ ") and len(line.split()) > 2]
    assert [n for n in listed if n in names] == names  # in the order of the table


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `code`."""
    script = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_help_imports_no_command_and_no_database_library() -> None:
    loaded = _modules_after(
        """
        from typer.testing import CliRunner
        from ventanilla.cli import app
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0 and "tickets" in result.output, result.output
        """
    )
    assert "ventanilla.cli" in loaded
    heavy = {"ventanilla.tickets_cli", "ventanilla.agent_cli", "ventanilla.context", "sqlalchemy", "jinja2"}
    assert not loaded & heavy


def test_listing_tickets_does_not_load_the_mail_pipeline(tmp_path) -> None:
    config = tmp_path / "ventanilla.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/v.db"\n[inbox]\nkind = "maildir"\npath = "{tmp_path}/md"\n'
        f'[outbound]\nkind = "file"\npath = "{tmp_path}/sent"\n',
        encoding="utf-8",
    )
    loaded = _modules_after(
        f"""
        from typer.testing import CliRunner
        from ventanilla.cli import app
        assert CliRunner().invoke(app, ["--config", {str(config)!r}, "init"]).exit_code == 0
        result = CliRunner().invoke(app, ["--config", {str(config)!r}, "tickets", "list", "--json"])
        assert result.exit_code == 0 and result.stdout.strip() == "[]", result.output
        """
    )
    assert "ventanilla.tickets_cli" in loaded
    assert not loaded & {"ventanilla.agent_cli", "ventanilla.wiring", "ventanilla.runner", "apscheduler", "jinja2"}
