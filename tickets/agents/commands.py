"""Commands an agent writes on the first lines of a reply: `#pending`, `#assign ana@x`... Pure.

Only the top of the agent's own text counts: the caller passes the reply with the quoted
history and signature already stripped. Command lines come first (blank lines between them
are allowed); the first other line starts the message. One bad command rejects them all.
"""

import re
from dataclasses import dataclass

STATUS_COMMANDS = {
    "pending": "pending",
    "open": "open",
    "escalate": "escalated",
    "resolve": "resolved",
    "close": "closed",
}
PRIORITIES = {"normal": "normal", "high": "high", "alta": "high", "urgent": "urgent", "urgente": "urgent"}
ALIASES = {
    "pendiente": "pending",
    "abrir": "open",
    "abierto": "open",
    "escalar": "escalate",
    "resolver": "resolve",
    "resuelto": "resolve",
    "cerrar": "close",
    "nota": "note",
    "asignar": "assign",
    "prioridad": "priority",
    "categoria": "category",
    "categoría": "category",
    "plantilla": "macro",
    "enviar": "send",
}
HELP = (
    "#pending",
    "#open",
    "#escalate <reason>",
    "#resolve",
    "#close",
    "#note",
    "#assign <agent address|group>",
    "#priority <normal|high|urgent>",
    "#category <name>",
    "#macro <name>",
    "#send",
)
MAX_COMMANDS = 10
_LINE = re.compile(r"^#([^\W\d_][\w-]*)(?:[ \t]+(.*))?$", re.UNICODE)
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_MACRO = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
_ADDRESS = re.compile(r"^[^\s@<>()\",;:]{1,64}@[a-z0-9.-]{1,253}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: str  # canonical: pending, open, escalate, resolve, close, note, assign, priority, category, macro, send
    argument: str = ""
    line: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedReply:
    """The commands on top, the message below them, and why the commands are refused (if so)."""

    commands: tuple[Command, ...] = ()
    body: str = ""
    errors: tuple[str, ...] = ()

    def named(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)

    @property
    def status(self) -> str:
        """The status the commands ask for ('' when none does)."""
        found = [STATUS_COMMANDS[c.name] for c in self.commands if c.name in STATUS_COMMANDS]
        return found[0] if found else ""

    @property
    def is_note(self) -> bool:
        return self.named("note") is not None


def parse_commands(text: str) -> ParsedReply:
    """Split an agent's stripped reply into leading command lines and the message."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    commands: list[Command] = []
    errors: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line and not _is_command_line(line):
            break
        if line:
            command, error = _parse_line(line)
            if error:
                errors.append(error)
            elif command is not None:
                commands.append(command)
        index += 1
    body = "\n".join(lines[index:]).strip("\n")
    errors += _check_combination(commands)
    if len(commands) + len(errors) > MAX_COMMANDS:
        errors.append(f"more than {MAX_COMMANDS} commands")
    return ParsedReply(commands=tuple(commands), body=body, errors=tuple(errors))


def _is_command_line(line: str) -> bool:
    # "#123" or "# heading" start the message; "#word" is a command (known or not).
    return len(line) > 1 and line[0] == "#" and line[1].isalpha()


def _parse_line(line: str) -> tuple[Command | None, str]:
    match = _LINE.match(line)
    if match is None:
        return None, f"malformed command line: {line[:80]}"
    word, argument = match.group(1).lower(), " ".join((match.group(2) or "").split())
    name = ALIASES.get(word, word)
    checker = _ARGUMENTS.get(name)
    if checker is None:
        return None, f"unknown command #{word[:40]}"
    error = checker(argument)
    if error:
        return None, f"#{word}: {error}"
    if name == "priority":
        argument = PRIORITIES[argument.lower()]
    if name in ("assign", "category", "macro"):
        argument = argument.lower()
    return Command(name=name, argument=argument, line=line[:200]), ""


def _no_argument(argument: str) -> str:
    return f"takes no argument (got {argument[:40]!r})" if argument else ""


def _reason(argument: str) -> str:
    return "" if argument else "needs a reason: #escalate <reason>"


def _any_text(argument: str) -> str:
    return ""


def _agent(argument: str) -> str:
    if _ADDRESS.match(argument.lower()) or _CATEGORY.match(argument.lower()):
        return ""
    return "needs one agent address or group: #assign <agent address|group>"


def _macro(argument: str) -> str:
    return "" if _MACRO.match(argument.lower()) else "needs a macro name: #macro <name>"


def _priority(argument: str) -> str:
    return "" if argument.lower() in PRIORITIES else "must be one of normal, high, urgent"


def _category(argument: str) -> str:
    return "" if _CATEGORY.match(argument.lower()) else "needs a category name: #category <name>"


_ARGUMENTS = {
    "pending": _no_argument,
    "open": _no_argument,
    "escalate": _reason,
    "resolve": _no_argument,
    "close": _no_argument,
    "note": _any_text,
    "assign": _agent,
    "priority": _priority,
    "category": _category,
    "macro": _macro,
    "send": _no_argument,
}


def _check_combination(commands: list[Command]) -> list[str]:
    errors = []
    statuses = {c.name for c in commands if c.name in STATUS_COMMANDS}
    if len(statuses) > 1:
        errors.append("conflicting status commands: " + ", ".join(f"#{s}" for s in sorted(statuses)))
    for name in ("assign", "priority", "category", "macro"):
        values = {c.argument for c in commands if c.name == name}
        if len(values) > 1:
            errors.append(f"#{name} given twice with different values")
    return errors
