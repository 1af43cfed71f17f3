"""`ventanilla check` renders every template with a sample of its context, so a broken template
(an operator's override, usually) is found before the first mail that needs it."""

import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from config.settings import Settings
from mailer.templating import KINDS, TemplateRenderer
from tickets.mail_context import CONTEXT_OF_KIND, template_values
from tickets.sla.calendar import service_lines

LANGUAGES = ("es", "en")
_SCALARS: dict[Any, Any] = {int: 1, float: 1.0, str: "sample", bool: False}


def sample_of(kind: Any, now: datetime) -> Any:
    """A value of this type: a dataclass filled field by field, one item in a tuple."""
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind is datetime:
        return now
    if kind is date:
        return now.date()
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return sample_of(next(a for a in args if a is not type(None)), now)
    if origin is tuple:
        return (sample_of(args[0], now),) if args else ()
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return {}
    if is_dataclass(kind) and isinstance(kind, type):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: sample_of(hints[f.name], now) for f in fields(kind)})
    raise TypeError(f"no sample for {kind!r}")


def broken_templates(settings: Settings, now: datetime) -> list[str]:
    """Each template (kind and language) that does not render, with why; [] when all do."""
    renderer = TemplateRenderer(settings.templates.path, settings.helpdesk.language)
    local = now.astimezone(ZoneInfo(settings.calendar.timezone))
    shared = {
        "helpdesk": {"name": settings.helpdesk.name, "address": settings.helpdesk.address},
        **service_lines(settings.calendar, local),
    }
    broken = []
    for kind in KINDS:
        values = {**shared, **template_values(sample_of(CONTEXT_OF_KIND[kind], local))}
        for language in dict.fromkeys((settings.helpdesk.language, *LANGUAGES)):
            try:
                renderer.render(kind, language, values)
            except Exception as exc:  # every failure is reported, whatever it is
                broken.append(f"{language}/{kind}: {' '.join(str(exc).split())}")
    return broken
