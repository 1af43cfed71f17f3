"""Attachments of outgoing mail as MIME parts (pure): the files a notification or a relayed reply
carries. Names are display data: one clean line, RFC 2231-encoded when not plain ASCII; a
content type that is not a plain `type/subtype` token becomes application/octet-stream.
"""

import base64
import re
from collections.abc import Sequence
from urllib.parse import quote

from tickets.values import Attachment

CRLF = b"\r\n"
_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,100}/[a-z0-9!#$&^_.+-]{1,150}")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9 !#$%&'()*+,.\-/:;<=>?@\[\]^_`{|}~]{1,200}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\u2028\u2029]")


def content_type(value: str) -> str:
    value = value.strip().lower()
    return value if _CONTENT_TYPE.fullmatch(value) else "application/octet-stream"


def filename_params(name: str) -> tuple[str, str]:
    """(`name` parameter for Content-Type, `filename` parameter for Content-Disposition)."""
    name = " ".join(_CONTROL.sub(" ", name).replace("\\", "/").rsplit("/", 1)[-1].split())[:200] or "attachment"
    if _PLAIN_NAME.fullmatch(name) and '"' not in name:
        return f'name="{name}"', f'filename="{name}"'
    encoded = "utf-8''" + quote(name, safe="")
    return f"name*={encoded}", f"filename*={encoded}"


def attachment_part(attachment: Attachment) -> list[bytes]:
    """One file as a base64 MIME part (headers, blank line, body), without its delimiter."""
    name, filename = filename_params(attachment.filename)
    return [
        f"Content-Type: {content_type(attachment.content_type)}; {name}\r\n".encode("ascii"),
        b"MIME-Version: 1.0\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        f"Content-Disposition: attachment; {filename}\r\n".encode("ascii"),
        CRLF,
        base64.encodebytes(attachment.data).replace(b"\n", CRLF),
    ]


def mixed_body(first_part: list[bytes], attachments: Sequence[Attachment], boundary: str) -> list[bytes]:
    """A multipart/mixed body: `first_part` (headers and body of the text), then every file."""
    delimiter = f"--{boundary}".encode("ascii")
    out = [delimiter + CRLF, *first_part]
    for attachment in attachments:
        out += [CRLF + delimiter + CRLF, *attachment_part(attachment)]
    out.append(CRLF + delimiter + b"--" + CRLF)
    return out
