"""Canned replies from `templates/macros/<lang>/<NAME>.txt` (an override folder first).

Jinja2 text templates with `ticket`, `requester` and `name` (the user's name). A macro missing
in the ticket's language is taken from the default language.
"""

import re

import jinja2

from mailer.templating import TemplateRenderer
from tickets.agents.macros import MacroError, MacroValues

_MACRO = re.compile(r"^macros/([a-z]{2})/([a-z0-9][a-z0-9_-]{0,59})\.txt$")


class TemplateMacros:
    """The MacroBook of a TemplateRenderer's folders (`[templates] path`, then the packaged ones)."""

    def __init__(self, renderer: TemplateRenderer) -> None:
        self.env = renderer.env
        self.default_language = renderer.default_language
        self._names: dict[str, tuple[str, ...]] = {}

    def _in(self, language: str) -> tuple[str, ...]:
        if language not in self._names:
            found = (m.groups() for m in map(_MACRO.match, self.env.list_templates()) if m)
            self._names[language] = tuple(sorted({name for lang, name in found if lang == language}))
        return self._names[language]

    def names(self, language: str) -> tuple[str, ...]:
        return tuple(sorted({*self._in(language), *self._in(self.default_language)}))

    def render(self, name: str, language: str, values: MacroValues) -> str | None:
        lang = language if name in self._in(language) else self.default_language
        if name not in self._in(lang):
            return None
        context = {"ticket": values.ticket, "requester": values.requester, "name": values.name, "lang": lang}
        try:
            return self.env.get_template(f"macros/{lang}/{name}.txt").render(context)
        except jinja2.TemplateError as exc:
            raise MacroError(f"template macros/{lang}/{name}.txt: {exc}") from None
