"""What the form needs of the FAQ matcher: `suggest(text, lang, limit)` giving titled links."""

from collections.abc import Sequence
from typing import Protocol


class FaqSuggestion(Protocol):
    """One suggested entry (tickets.faq.match.Suggestion has these)."""

    @property
    def title(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def score(self) -> float: ...


class Suggester(Protocol):
    """The FAQ matcher's interface (tickets.faq.match.FaqIndex)."""

    def suggest(self, text: str, lang: str, limit: int = 3) -> Sequence[FaqSuggestion]: ...


class NoFaq:
    """No FAQ configured: no suggestions (the form works the same)."""

    def suggest(self, text: str, lang: str, limit: int = 3) -> Sequence[FaqSuggestion]:
        return []


def as_json(suggestions: Sequence[FaqSuggestion]) -> list[dict[str, object]]:
    """What GET /faq/suggest answers: [{title, url, score}]."""
    return [{"title": s.title, "url": s.url, "score": round(float(s.score), 4)} for s in suggestions]
