"""A web form submission as a MIME message from the user to the support address. Pure.

The message goes through the spool like any mail. Its Message-ID is ours but at `web.<domain>`:
a Message-ID at the helpdesk's own domain would be classified as our own mail and ignored. The
client's address and user agent travel in a trace header (`X-Ventanilla-Web`; inbound
`X-Ventanilla-` headers drive nothing, so a forged one changes nothing). The page's language is
its `Content-Language`, which ingest believes of the web form's mailbox only.
"""

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailer.compose import header_safe, make_message_id

TRACE_HEADER = "X-Ventanilla-Web"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebMail:
    """What the form sends (already validated: tickets.web.form.Submission)."""

    name: str
    email: str
    subject: str
    message: str
    category: str = ""
    attachment: tuple[str, str, bytes] | None = None  # (safe file name, content type, bytes)
    language: str = ""  # of the page it was sent from ("es", "en"): the acknowledgement's


def web_message_id(helpdesk_address: str, unique: str) -> str:
    """`<web.0.unique@web.domain>`: recognisably ours, never taken for our own outgoing mail."""
    domain = helpdesk_address.rpartition("@")[2] or "localhost"
    return make_message_id(kind="web", ticket_id=None, domain=f"web.{domain}", unique=unique)


def compose_web_mail(
    mail: WebMail, *, to: str, message_id: str, client_ip: str, user_agent: str, now: datetime, fallback_subject: str
) -> bytes:
    """The submission's bytes, as the spool keeps them."""
    msg = EmailMessage(policy=SMTP)
    local, _, domain = mail.email.rpartition("@")
    msg["From"] = Address(display_name=header_safe(mail.name, 200), username=local, domain=domain)
    msg["To"] = to
    msg["Subject"] = header_safe(mail.subject or fallback_subject, 200)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if mail.category:
        msg["Keywords"] = header_safe(mail.category, 100)
    msg[TRACE_HEADER] = trace_value(client_ip, user_agent, now)
    msg.set_content(mail.message, subtype="plain", charset="utf-8", cte="quoted-printable")
    if mail.attachment is not None:
        filename, content_type, data = mail.attachment
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        if not subtype or maintype in ("multipart", "message"):
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype.split(";")[0].strip(), filename=filename)
    if mail.language:  # last: setting the content drops (and a multipart moves) the Content- headers before
        msg["Content-Language"] = header_safe(mail.language, 8)
    return msg.as_bytes()


def trace_value(client_ip: str, user_agent: str, now: datetime) -> str:
    """`from [ip] user-agent "..."; date`: printable ASCII, one line, bounded."""
    agent = header_safe(user_agent, 300).encode("ascii", "replace").decode().replace('"', "'")
    return f'from [{header_safe(client_ip, 60)}] via web form; user-agent "{agent}"; {format_datetime(now)}'
