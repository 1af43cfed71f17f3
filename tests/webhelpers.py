"""Helpers of the web form's tests: a FAQ folder, the form's token, a filled-in submission."""

import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tickets.db import read_only
from tickets.models import Outbox, Receipt, Ticket

FAQ_ENTRIES = {
    "renovar": ("es", "¿Cómo renuevo mi certificado caducado?", ["renovar", "caducado", "caduca"],
                "Puede renovar su certificado en los últimos 60 días de vigencia desde la sede."),
    "revocar": ("es", "¿Cómo revoco un certificado robado o perdido?", ["revocar", "robado", "perdido"],
                "Llame al teléfono de revocación, 24 horas, o revóquelo en la sede con su código."),
    "exportar": ("es", "¿Cómo exporto mi certificado a otro navegador?", ["exportar", "copia", "navegador"],
                 "Desde las opciones del navegador, exporte el certificado con su clave privada."),
    "renew": ("en", "How do I renew an expired certificate?", ["renew", "expired", "expire"],
              "You can renew your certificate in the last 60 days of its validity."),
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def write_faq(folder: Path, entries: dict[str, tuple[str, str, list[str], str]] = FAQ_ENTRIES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for entry_id, (lang, title, keywords, body) in entries.items():
        keys = ", ".join(f'"{k}"' for k in keywords)
        (folder / f"{entry_id}.md").write_text(
            f'+++\ntitle = "{title}"\nurl = "https://ventanilla.example/faq/{entry_id}"\nlang = "{lang}"\n'
            f"keywords = [{keys}]\n+++\n{body}\n",
            encoding="utf-8",
        )
    return folder


def token_of(html: str) -> str:
    match = TOKEN.search(html)
    assert match, "the form has no CSRF token"
    return match[1]


def filled(token: str, **fields: Any) -> dict[str, Any]:
    values = {
        "csrf_token": token,
        "name": "Ana Pérez",
        "email": "ana@example.org",
        "subject": "No puedo renovar",
        "message": "Mi certificado caduca mañana y no consigo renovarlo desde la sede.",
        "category": "",
        "website": "",
    }
    values.update(fields)
    return values


def counts(engine: Engine) -> dict[str, int]:
    """Tickets, receipts and outbox rows."""
    with read_only(engine) as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (("tickets", Ticket), ("receipts", Receipt), ("outbox", Outbox))
        }
