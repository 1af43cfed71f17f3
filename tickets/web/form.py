"""What a web form submission must be: pure checks, errors as codes the page words in es/en."""

import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from email_validator import EmailNotValidError, validate_email

from tickets.ingest.rules import TICKET_REF
from tickets.values import Attachment  # the uploaded file: its name as sent, its declared type, its bytes

NAME_MAX = 200
EMAIL_MAX = 254
SUBJECT_MAX = 200
MESSAGE_MIN = 10
MESSAGE_MAX = 20_000
FILENAME_MAX = 200

# Types a mail client or a desktop runs when opened: refused by name and by content.
EXECUTABLE_SUFFIXES = frozenset(
    ".app .apk .bat .bin .cmd .com .cpl .dll .dmg .exe .gadget .hta .inf .ins .isp .jar .js .jse .lnk .msc .msi "
    ".msp .pif .ps1 .psm1 .reg .scr .sct .sh .shb .so .sys .vb .vbe .vbs .wsc .wsf .wsh .elf .run .command".split()
)
_MAGIC = (b"MZ", b"\x7fELF", b"#!", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"dex\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True, kw_only=True)
class FormInput:
    """The fields as posted (strings as typed; the page shows them back on an error)."""

    name: str = ""
    email: str = ""
    subject: str = ""
    message: str = ""
    category: str = ""
    website: str = ""  # the honeypot: people never see it
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """A valid submission: cleaned values, the email address normalised."""

    name: str
    email: str
    subject: str
    message: str
    category: str
    attachment: Attachment | None


def validate(
    form: FormInput, *, categories: tuple[str, ...], max_attachment_bytes: int
) -> tuple[Submission | None, dict[str, str]]:
    """(the submission, {}) or (None, {field: error code}); codes are worded by the page."""
    errors: dict[str, str] = {}
    # A form submission always opens a ticket of its own: its sender is not proven, so a [#N] it
    # names must not join (and reveal) someone else's ticket.
    name, subject = _one_line(form.name), _one_line(TICKET_REF.sub(" ", form.subject))
    message = _CONTROL.sub("", form.message.replace("\r\n", "\n")).strip()
    if len(name) > NAME_MAX:
        errors["name"] = "too_long"
    email, email_error = check_email(form.email)
    if email_error:
        errors["email"] = email_error
    if len(subject) > SUBJECT_MAX:
        errors["subject"] = "too_long"
    if not message:
        errors["message"] = "required"
    elif len(message) < MESSAGE_MIN:
        errors["message"] = "too_short"
    elif len(message) > MESSAGE_MAX:
        errors["message"] = "too_long"
    if form.category and form.category not in categories:
        errors["category"] = "unknown"
    attachment_error = check_attachment(form.attachment, max_attachment_bytes)
    if attachment_error:
        errors["attachment"] = attachment_error
    if errors:
        return None, errors
    attachment = form.attachment if form.attachment and form.attachment.data else None
    if attachment is not None:
        attachment = Attachment(
            filename=safe_filename(attachment.filename), content_type=attachment.content_type, data=attachment.data
        )
    return Submission(
        name=name, email=email, subject=subject, message=message, category=form.category, attachment=attachment
    ), {}


def check_email(value: str) -> tuple[str, str]:
    """(normalised address, "") or ("", error code); the domain's mail servers are not asked."""
    value = value.strip()
    if not value:
        return "", "required"
    if len(value) > EMAIL_MAX:
        return "", "too_long"
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return "", "invalid_email"
    return checked.normalized.lower(), ""


def check_attachment(attachment: Attachment | None, max_bytes: int) -> str:
    """An error code for the file ("" when it is acceptable or there is none)."""
    if attachment is None or (not attachment.data and not attachment.filename):
        return ""
    if len(attachment.data) > max_bytes:
        return "too_large"
    if is_executable(attachment.filename, attachment.content_type, attachment.data):
        return "executable"
    return ""


def is_executable(filename: str, content_type: str, data: bytes) -> bool:
    """By its name, its declared type or its first bytes (a renamed program is still one)."""
    suffixes = {s.lower() for s in PurePosixPath(safe_filename(filename)).suffixes}
    if suffixes & EXECUTABLE_SUFFIXES:
        return True
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared in {
        "application/x-msdownload",
        "application/x-executable",
        "application/x-sh",
        "application/x-msdos-program",
        "application/vnd.microsoft.portable-executable",
        "application/java-archive",
        "application/x-elf",
        "text/javascript",
        "application/javascript",
    }:
        return True
    return data.startswith(_MAGIC)


def safe_filename(filename: str) -> str:
    """The last part of the name only (never a path), without control characters, bounded."""
    base = PureWindowsPath(PurePosixPath(filename.replace("\x00", "")).name).name
    base = _CONTROL.sub("", base).strip().lstrip(".")
    return base[-FILENAME_MAX:] or "attachment"


def _one_line(value: str) -> str:
    return " ".join(_CONTROL.sub("", value).split())
