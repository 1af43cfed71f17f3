"""`ventanilla tickets reply|note|escalate|resolve|close|assign|reopen`: agents' actions from a shell.

The commands call the same use cases as agents' emails (tickets.agents.actions) and queue
the resulting mail in the same transaction. `register(app)` adds them to `tickets`.
"""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session

from tickets.agents import actions as agent_actions
from tickets.agents.mail import AgentPolicy
from tickets.values import OutgoingEmail
from tickets.work import as_mail
from ventanilla.context import AppContext
from ventanilla.wiring import agents_policy

Action = Callable[[Session, int, str, str, datetime, AgentPolicy], tuple[OutgoingEmail, ...]]
console = Console(stderr=True)

AgentOption = Annotated[str, typer.Option("--agent", "-a", help="the acting agent's address (as in [helpdesk] agents)")]
TextOption = Annotated[str | None, typer.Option("--text", "-t", help="the text")]
FileOption = Annotated[Path | None, typer.Option("--file", "-f", help="read the text from this file ('-' = stdin)")]


def policy_of(app_ctx: AppContext) -> AgentPolicy:
    return agents_policy(app_ctx.settings_with_secret)


def read_text(text: str | None, file: Path | None, *, required: bool) -> str:
    if text is not None and file is not None:
        raise typer.BadParameter("give --text or --file, not both")
    if file is not None:
        return typer.get_text_stream("stdin").read() if str(file) == "-" else file.read_text(encoding="utf-8")
    if text is None and required:
        raise typer.BadParameter("give --text or --file")
    return text or ""


def run_action(app_ctx: AppContext, action: Action, number: int, agent: str, text: str) -> None:
    """One unit of work: the action, and its mail queued alongside."""
    who, policy = agent.strip().lower(), policy_of(app_ctx)
    try:
        app_ctx.app.run(lambda session, now: list(action(session, number, who, text, now, policy)), mail=as_mail)
    except agent_actions.AgentActionError as exc:
        console.print(f"[red]not done:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"ticket #{number}: {action.__name__} done")


def _command(action: Action, *, required: bool, help_text: str) -> Callable[..., None]:
    def command(
        ctx: typer.Context, number: int, agent: AgentOption, text: TextOption = None, file: FileOption = None
    ) -> None:
        run_action(ctx.obj, action, number, agent, read_text(text, file, required=required))

    command.__doc__ = help_text
    command.__name__ = action.__name__
    return command


def reply(
    ctx: typer.Context,
    number: int,
    agent: AgentOption,
    text: TextOption = None,
    file: FileOption = None,
    macro: Annotated[str | None, typer.Option("--macro", "-m", help="a canned reply on top of the text")] = None,
) -> None:
    """Answer the user (from the support address, in their thread); --macro puts a canned reply on top."""
    body = read_text(text, file, required=macro is None)
    if macro is not None:
        body = f"#macro {macro.strip()}\n{body}"
    run_action(ctx.obj, agent_actions.reply, number, agent, body)


COMMANDS: tuple[tuple[str, Action, bool, str], ...] = (
    ("note", agent_actions.note, True, "Add an internal note; other agents are told, the user is not."),
    ("escalate", agent_actions.escalate, True, "Escalate; the text is the reason; supervisors are told."),
    ("resolve", agent_actions.resolve, False, "Mark resolved; a text is sent to the user as the last answer."),
    ("close", agent_actions.close, False, "Close; a text is sent to the user first."),
    ("assign", agent_actions.assign, True, "Give the ticket to the agent (or group) named by the text."),
    ("reopen", agent_actions.reopen, False, "Reopen with a new response clock; a text is kept as a note."),
)


def register(app: typer.Typer) -> None:
    """Add the agent commands to the `tickets` sub-app."""
    app.command("reply")(reply)
    for name, action, required, help_text in COMMANDS:
        app.command(name)(_command(action, required=required, help_text=help_text))
