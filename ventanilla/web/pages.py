"""The web form's pages: Jinja2 templates under templates/web/, every value autoescaped."""

import functools
from collections.abc import Mapping
from pathlib import Path

import jinja2

import templates as packaged_templates
from ventanilla.web.texts import TEXTS, size_words

TEMPLATES = Path(packaged_templates.__file__).parent
STATIC_TYPES = {
    "form.css": "text/css; charset=utf-8",
    "noscript.css": "text/css; charset=utf-8",
    "suggest.js": "text/javascript; charset=utf-8",
}
FIELDS = ("name", "email", "subject", "message", "category", "attachment")


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every page is HTML: every value is escaped, whatever the file's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def static_file(name: str) -> bytes:
    """The stylesheet and the script (read once)."""
    return (TEMPLATES / "web" / "static" / name).read_bytes()


def _common(lang: str, helpdesk_name: str) -> dict[str, object]:
    return {
        "lang": lang,
        "other_lang": "en" if lang == "es" else "es",
        "t": TEXTS[lang],
        "helpdesk_name": helpdesk_name,
    }


def form_page(
    *,
    lang: str,
    helpdesk_name: str,
    csrf_token: str,
    form: Mapping[str, str],
    errors: Mapping[str, str],
    categories: tuple[str, ...],
    max_attachment_bytes: int,
) -> str:
    """The form, with the input kept and each error (a code from tickets.web.form) worded next to its field."""
    t = TEXTS[lang]
    size = size_words(max_attachment_bytes, lang)
    worded = {field: t[f"err_{code}"].format(size=size) for field, code in errors.items()}
    return (
        environment()
        .get_template("web/form.html")
        .render(
            **_common(lang, helpdesk_name),
            csrf_token=csrf_token,
            form={field: form.get(field, "") for field in FIELDS},
            errors={field: worded[field] for field in FIELDS if field in worded},
            labels={field: t[field] for field in FIELDS},
            categories=[(c, c) for c in categories],
            attachment_hint=t["attachment_hint"].format(size=size),
        )
    )


def message_page(
    *, lang: str, helpdesk_name: str, heading: str, paragraphs: list[str], link: str, reference: int | None = None
) -> str:
    """A page that says one thing: received (with the reference), too many, expired."""
    return (
        environment()
        .get_template("web/message.html")
        .render(**_common(lang, helpdesk_name), heading=heading, paragraphs=paragraphs, link=link, reference=reference)
    )
