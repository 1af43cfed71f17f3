"""Which FAQ entries answer a mail: BM25F over title, keywords and body, per language. Pure.

Each entry's words go through `tickets.words` (accents folded, stop words out, Snowball stems in
the entry's language); a mail is read the same way in its ticket's language. Field weights and
length normalisation follow BM25F (Robertson & Zaragoza 2009): a term's weighted frequency over
the fields is saturated once, then weighted by its idf. Only entries whose score passes the
threshold are suggested, and after the first, only those close to it: no suggestion is better
than a wrong one.
"""

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from tickets import words
from tickets.faq.entries import FaqEntry

K1 = 1.2
# field: (weight, b). The title and keywords say what the entry is about; the body is long.
FIELDS = {"title": (3.0, 0.4), "keywords": (2.5, 0.3), "body": (1.0, 0.75)}
THRESHOLD = 3.0  # tuned on the tune split of tests/data/faq (bench.faq)
RELATIVE = 0.6  # a second or third suggestion scores at least this share of the first
MAX_QUERY_CHARS = 4000
# Entries without any of the words, added to the count for the idf: in a small FAQ (or a language
# with one entry) a word found in every entry still tells something; in a large one this is nothing.
VIRTUAL_ENTRIES = 5


@dataclass(frozen=True)  # the interface the web form relies on (no slots: vars() works)
class Suggestion:
    entry_id: str
    title: str
    url: str
    score: float


@dataclass(frozen=True, slots=True)
class _Posting:
    doc: int
    value: float  # idf * saturated weighted frequency: the term's whole contribution to the doc


class _LanguageIndex:
    """The entries of one language and their postings."""

    def __init__(self, entries: list[FaqEntry], language: str) -> None:
        self.entries = entries
        fields = [_fields(entry, language) for entry in entries]
        averages = {name: max(1.0, sum(len(f[name]) for f in fields) / max(1, len(fields))) for name in FIELDS}
        weighted: dict[str, dict[int, float]] = defaultdict(dict)
        for doc, doc_fields in enumerate(fields):
            for term, tf in _weighted_tf(doc_fields, averages).items():
                weighted[term][doc] = tf
        total = len(entries) + VIRTUAL_ENTRIES
        self.postings: dict[str, tuple[_Posting, ...]] = {}
        for term, docs in weighted.items():
            df = len(docs)
            idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
            self.postings[term] = tuple(_Posting(doc, idf * tf / (K1 + tf)) for doc, tf in docs.items())

    def scores(self, query: Iterable[str]) -> dict[int, float]:
        totals: dict[int, float] = defaultdict(float)
        for term in query:
            for posting in self.postings.get(term, ()):
                totals[posting.doc] += posting.value
        return totals


def _fields(entry: FaqEntry, language: str) -> dict[str, list[str]]:
    title = words.terms(entry.title, language)
    phrases = [words.phrase(k, language) for k in entry.keywords]
    return {
        "title": title + _pairs(title),
        "keywords": [t for p in phrases for t in p] + [pair for p in phrases for pair in _pairs(list(p))],
        "body": words.terms(entry.body, language),
    }


def _pairs(terms: list[str]) -> list[str]:
    """Adjacent terms as one more term: "copia de seguridad" also matches as a phrase."""
    return [f"{a} {b}" for a, b in zip(terms, terms[1:], strict=False)]


def query_terms(text: str, lang: str) -> list[str]:
    """A mail's terms and its adjacent pairs, each once."""
    terms = words.terms(text[:MAX_QUERY_CHARS], lang)
    return list(dict.fromkeys(terms + _pairs(terms)))


def _weighted_tf(fields: dict[str, list[str]], averages: dict[str, float]) -> dict[str, float]:
    result: dict[str, float] = defaultdict(float)
    for name, terms in fields.items():
        weight, b = FIELDS[name]
        norm = 1 - b + b * len(terms) / averages[name]
        for term in terms:
            result[term] += weight / norm
    return result


class FaqIndex:
    """The FAQ ready to match: built once per worker, then `suggest` is pure and fast."""

    def __init__(self, by_language: dict[str, _LanguageIndex], threshold: float, relative: float) -> None:
        self._by_language = by_language
        self.threshold = threshold
        self.relative = relative

    @classmethod
    def build(
        cls, entries: Iterable[FaqEntry], *, threshold: float = THRESHOLD, relative: float = RELATIVE
    ) -> "FaqIndex":
        grouped: dict[str, list[FaqEntry]] = defaultdict(list)
        for entry in entries:
            grouped[entry.lang].append(entry)
        return cls({lang: _LanguageIndex(group, lang) for lang, group in grouped.items()}, threshold, relative)

    def __len__(self) -> int:
        return sum(len(index.entries) for index in self._by_language.values())

    def rank(self, text: str, lang: str, limit: int = 10) -> list[Suggestion]:
        """The best `limit` entries of `lang` with their scores, whatever the threshold (for tuning)."""
        index = self._by_language.get(lang)
        if index is None or limit <= 0:
            return []
        totals = index.scores(query_terms(text, lang))
        best = heapq.nlargest(limit, totals.items(), key=lambda item: (item[1], -item[0]))
        return [_suggestion(index.entries[doc], score) for doc, score in best]

    def suggest(self, text: str, lang: str, limit: int = 3) -> list[Suggestion]:
        """Up to `limit` entries that pass the threshold, best first; none when unsure."""
        ranked = self.rank(text, lang, limit)
        if not ranked or ranked[0].score < self.threshold:
            return []
        floor = max(self.threshold, ranked[0].score * self.relative)
        return [s for s in ranked if s.score >= floor]


def _suggestion(entry: FaqEntry, score: float) -> Suggestion:
    return Suggestion(entry_id=entry.id, title=entry.title, url=entry.url, score=round(score, 3))
