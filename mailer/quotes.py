"""Strip quoted history and signatures from a reply, so only the new text goes on. Pure.

`email-reply-parser` (GitHub's rules) finds `>` quotes and English "On ... wrote:" and
"From:" headers. On top of it we add what it misses: Spanish clients ("El ... escribió:",
"-----Mensaje original-----", "De:/Enviado:/Para:/Asunto:" blocks), Outlook's underscore
rule and "-----Original Message-----", attribution lines that Gmail wraps over several
lines, and mobile signatures. We cut at the FIRST quote marker from the top: agents write
on top (the notification asks them to), and anything below a marker is history. The
library's own signature guess (any paragraph starting with "-x" or "--") is not used: it
drops legitimate list items; a signature is "-- " or a known mobile line.
"""

import re

from email_reply_parser import EmailReplyParser

MAX_JOINED_LINES = 3  # Gmail wraps a long "On ... <address> wrote:" over up to three lines
_ATTRIBUTION_START = re.compile(r"^\s*>?\s*(on|el)\s", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"(wrote|escribió|escribio)\s*:\s*$", re.IGNORECASE)
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|mensaje original|forwarded message|mensaje reenviado)\s*-{2,}"
    r"|_{10,}|-{10,})\s*$",
    re.IGNORECASE,
)
_HEADER_FIELD = re.compile(
    r"^\s*\*?(from|de|sent|enviado(?: el)?|date|fecha|to|para|cc|subject|asunto)\s*:\*?\s", re.IGNORECASE
)
_FROM_FIELD = re.compile(r"^\s*\*?(from|de)\s*:\*?\s+\S", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"^(-- ?|"
    r"(sent from|enviado desde) (my|mi) [\w ]{1,30}|"
    r"(sent from|enviado desde) (outlook|correo|mail)( para| for)?[\w ]{0,30}|"
    r"(get|obtener) outlook (for|para) (ios|android)"
    r")\s*$",
    re.IGNORECASE,
)


def strip_reply(text: str) -> str:
    """The new text at the top of a reply, without quoted history or signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = lines[: _first_quote_marker(lines)]
    lines = _library_reply("\n".join(lines)).split("\n")
    lines = lines[: _first_signature(lines)]
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _first_quote_marker(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line) or _is_attribution(lines, index) or _is_header_block(lines, index):
            return index
        if line.lstrip().startswith(">"):
            return index
    return len(lines)


def _is_attribution(lines: list[str], index: int) -> bool:
    if not _ATTRIBUTION_START.match(lines[index]):
        return False
    joined = ""
    for offset, line in enumerate(lines[index : index + MAX_JOINED_LINES]):
        part = line.lstrip("> ").strip()
        if offset and (not part or _ATTRIBUTION_START.match(line)):
            return False  # a wrapped attribution has no blank line and no second "On"/"El" inside
        joined += " " + part
        if _ATTRIBUTION_END.search(joined):
            return True
    return False


def _is_header_block(lines: list[str], index: int) -> bool:
    """A "From:"/"De:" line followed by at least one more header field: Outlook's quote."""
    if not _FROM_FIELD.match(lines[index]):
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()]
    return any(_HEADER_FIELD.match(line) for line in following[:4])


def _library_reply(text: str) -> str:
    """The fragments the library calls neither quoted nor quote headers, up to the first header."""
    kept: list[str] = []
    for fragment in EmailReplyParser.read(text).fragments:
        if fragment.headers:
            break
        if not fragment.quoted:
            kept.append(fragment.content)
    return "\n\n".join(part for part in kept if part)


def _first_signature(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line.rstrip("\n")) and (line.startswith("--") or index > 0):
            return index
    return len(lines)
