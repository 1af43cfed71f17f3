"""Sub-commands whose module is imported only when they run.

Every `python -m ventanilla ...` used to import every command's module (and with them the ORM,
the mail pipeline, Jinja2, Rich tables...) before doing anything. A group made by `lazy_group`
knows its commands by name and short help only; the module behind one is imported when that
command is resolved, so `tickets list` loads what listing needs and `--help` loads none of them.
"""

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_group


@dataclass(frozen=True, slots=True, kw_only=True)
class Lazy:
    """A command `name` added by `module`: its `register(parent)` when it has one, else its `app`
    (a sub-app) under `name`. `help` is what the group's `--help` lists for it, word for word
    the first paragraph of the command's own help (tests/unit/test_lazy_cli.py checks)."""

    name: str
    module: str
    help: str


class _Placeholder(TyperCommand):
    """Stands for a lazy command in the group's listing until the command itself is needed."""

    def __init__(self, spec: Lazy) -> None:
        super().__init__(spec.name, short_help=spec.help)
        self.spec = spec


def load_command(spec: Lazy) -> Any:
    """Import the module and build the command as Typer would have built it in place."""
    module = importlib.import_module(spec.module)
    holder = typer.Typer()
    register = getattr(module, "register", None)
    if register is not None:
        register(holder)
    else:
        holder.add_typer(module.app, name=spec.name)
    return get_group(holder).commands[spec.name]


class LazyGroup(TyperGroup):
    """A Typer group whose `entries` are Lazy commands, or names of commands defined eagerly on the
    group itself; `--help` lists them all, in the order of `entries`."""

    entries: ClassVar[tuple[Lazy | str, ...]] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        eager = dict(self.commands)
        ordered: dict[str, Any] = {}
        for entry in self.entries:
            if isinstance(entry, Lazy):
                ordered[entry.name] = _Placeholder(entry)
            else:
                ordered[entry] = eager.pop(entry)
        self.commands = {**ordered, **eager}
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            self.commands[cmd_name] = load_command(command.spec)
            return self.commands[cmd_name]
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The listing reads the placeholders' help: no command module is imported for `--help`."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_group(*entries: Lazy | str) -> type[LazyGroup]:
    """A LazyGroup class for `typer.Typer(cls=...)` with these entries."""
    return type("LazyGroup", (LazyGroup,), {"entries": entries})
