"""Render email templates: `templates/<lang>/<kind>.subject.txt`, `<kind>.txt`, `<kind>.html`.

An operator's folder (`[templates] path`) is searched before the packaged templates, so any
file can be overridden. A kind missing in the asked language falls back to the default one.
HTML is autoescaped; text is not (it is sent as text/plain).
"""

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import jinja2
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

import templates as packaged_templates
from mailer.errors import TemplateFailedError

KINDS = (
    "ack",
    "agent_notification",
    "agent_reply",
    "sla_alert",
    "digest",
    "phone_followup",
    "missed_call",
    "command_error",
    "ticket_closed",
    "delivery_failed",
    "too_large",
    "reply_held",
)
PARTS = ("subject.txt", "txt", "html")
PACKAGED_PATH = Path(packaged_templates.__file__).parent
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_MOMENT = {"es": "EEEE d 'de' MMMM 'a las' HH:mm", "en": "EEEE d MMMM 'at' HH:mm"}  # Babel (CLDR) patterns


class TemplateMissingError(TemplateFailedError, LookupError):
    """No template of this kind exists in the asked or the default language."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedTemplate:
    """A rendered message: one-line subject, plain text and HTML bodies."""

    subject: str
    text: str
    html: str
    language: str = ""


def hm(value: time | datetime) -> str:
    """`HH:MM`; `time.max` (the end of a day) reads as 24:00."""
    if isinstance(value, time) and value == time.max:
        return "24:00"
    return f"{value.hour:02d}:{value.minute:02d}"


@functools.lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en")


def weekday(value: date, language: str = "es") -> str:
    """The day of the week in the language: "lunes", "Monday"."""
    return format_date(value, "EEEE", locale=_locale(language))


def month(value: date, language: str = "es") -> str:
    """The month's name as it reads in a date: "diciembre", "December"."""
    return format_date(value, "MMMM", locale=_locale(language))


def filesize(value: int, language: str = "es") -> str:
    """Bytes for people, in the language's own digits: "31,2 MB", "19,5 KB", "31.2 MB"."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value >= size:
            return f"{format_decimal(round(value / size, 1), format='#,##0.0', locale=language)} {unit}"
    return f"{value} B"


def moment(value: datetime, language: str = "es") -> str:
    """An aware moment in words, in its own zone: "lunes 7 de diciembre a las 13:00", "Monday 7 December at 13:00"."""
    pattern = _MOMENT.get(language, "EEEE d MMMM HH:mm")
    return format_datetime(value, pattern, tzinfo=value.tzinfo, locale=_locale(language)) + _zone(value)


def _zone(value: datetime) -> str:
    """The zone a local moment is in, named for people: " (CEST)"; "" for a naive one."""
    name = value.tzname() if value.tzinfo is not None else None
    return f" ({name})" if name else ""


LABELS: Mapping[str, Mapping[str, str]] = {  # status, priority and category names, in Spanish mail
    "es": {
        "open": "abierta",
        "pending": "pendiente del usuario",
        "escalated": "escalada",
        "resolved": "resuelta",
        "closed": "cerrada",
        "normal": "normal",
        "high": "alta",
        "urgent": "urgente",
        "general": "general",
        "revocation": "revocación",
        "renewal": "renovación",
        "export-import": "exportar e importar",
        "obtaining": "obtención",
    },
    "en": {"pending": "pending (user)", "export-import": "export and import"},
}


def label(value: str, language: str = "es") -> str:
    """A status, priority or category name as people read it in `language` (unknown names as they are)."""
    return LABELS.get(language, {}).get(value, value)


def _spans(value: object, language: str = "es") -> str:
    """Opening spans as "08:00–19:00" joined by commas and the word for "and"."""
    spans = [f"{hm(start)}–{hm(end)}" for start, end in value]  # type: ignore[attr-defined]
    if len(spans) <= 1:
        return "".join(spans)
    joiner = " y " if language == "es" else " and "
    return ", ".join(spans[:-1]) + joiner + spans[-1]


def when(value: datetime, language: str = "es", today: date | None = None) -> str:
    """A local moment in words: "hoy a las 09:00", "el lunes 3 de junio a las 08:00"."""
    days = (value.date() - today).days if today else None
    if language == "es":
        day = {0: "hoy", 1: "mañana"}.get(days) if days is not None else None
        day = day or f"el {weekday(value, 'es')} {value.day} de {month(value, 'es')}"
        return f"{day} a las {hm(value)}{_zone(value)}"
    day = {0: "today", 1: "tomorrow"}.get(days) if days is not None else None
    day = day or f"on {weekday(value, 'en')} {value.day} {month(value, 'en')}"
    return f"{day} at {hm(value)}{_zone(value)}"


_EXTENSIONS = ("txt", "html", "j2")


class TemplateRenderer:
    """Renders message kinds in a language from the override folder or the packaged files."""

    def __init__(
        self, override_path: str = "", default_language: str = "es", *, sources: Mapping[str, str] | None = None
    ) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_path:
            loaders.append(jinja2.FileSystemLoader(override_path))
        loaders.append(jinja2.FileSystemLoader(str(PACKAGED_PATH)))
        self.default_language = default_language
        self.env = jinja2.Environment(
            # `sources`: a snapshot (see `frozen`) rendered whatever happens to the files meanwhile.
            loader=jinja2.DictLoader(dict(sources)) if sources is not None else jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",),
                disabled_extensions=("txt",),
                default=False,
                default_for_string=False,
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        filters = {"hm": hm, "weekday": weekday, "month": month, "spans": _spans, "when": when, "moment": moment}
        self.env.filters.update(filters, filesize=filesize, label=label)

    @classmethod
    def frozen(cls, override_path: str = "", default_language: str = "es") -> "TemplateRenderer":
        """A renderer of the files as they are now (override folder first): a file edited later
        changes nothing until the next one is made (a reload, SIGHUP)."""
        return cls(default_language=default_language, sources=cls(override_path, default_language).snapshot())

    def snapshot(self) -> dict[str, str]:
        """Every template's source, by name, as this renderer's loader gives it now."""
        loader = self.env.loader
        assert loader is not None
        return {name: loader.get_source(self.env, name)[0] for name in self.env.list_templates(extensions=_EXTENSIONS)}

    def broken(self) -> list[str]:
        """Every template file that does not compile, with why ("es/ack.txt line 3: ..."); [] when all do."""
        errors = []
        for name in self.env.list_templates(extensions=_EXTENSIONS):
            try:
                self.env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                errors.append(f"{name} line {exc.lineno}: {exc.message}")
            except jinja2.TemplateError as exc:
                errors.append(f"{name}: {exc}")
        return errors

    def has(self, kind: str, language: str) -> bool:
        """Whether all three files of `kind` exist in `language`."""
        if not (_NAME.match(kind) and _NAME.match(language)):
            return False
        for part in PARTS:
            try:
                self.env.get_template(f"{language}/{kind}.{part}")
            except jinja2.TemplateNotFound:
                return False
        return True

    def language_for(self, kind: str, language: str) -> str:
        """The language `kind` will be rendered in: the asked one, else the default one."""
        for candidate in (language, self.default_language):
            if self.has(kind, candidate):
                return candidate
        raise TemplateMissingError(f"no template {kind!r} in {language!r} or {self.default_language!r}")

    def render(self, kind: str, language: str, context: Mapping[str, object]) -> RenderedTemplate:
        """Render subject, text and HTML of `kind`; the subject comes back as one line."""
        lang = self.language_for(kind, language)
        values = {**context, "lang": lang}
        try:
            subject, text, html = (self.env.get_template(f"{lang}/{kind}.{part}").render(values) for part in PARTS)
        except jinja2.TemplateError as exc:
            where = f" line {exc.lineno}" if isinstance(exc, jinja2.TemplateSyntaxError) else ""
            raise TemplateFailedError(f"template {lang}/{kind}{where}: {exc}") from None
        return RenderedTemplate(subject=" ".join(subject.split()), text=text, html=html, language=lang)
