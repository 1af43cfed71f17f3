"""Full-text search over tickets, the same on SQLite and PostgreSQL.

Neither database stems Spanish the way the other does (FTS5 has no Spanish stemmer), so the text
is stemmed here: every word of a ticket's subject and of its messages is lower-cased and stemmed
with the Snowball Spanish and English stemmers, before and after folding its accents, and the
distinct stems (plain ASCII words) are appended to the ticket's row in `search_text`.
SQLite indexes that column with FTS5, PostgreSQL keeps it as a stored tsvector of its words taken as
they are (`array_to_tsvector`: no parser, no dictionary) with a GIN index: both match whole stems,
so both find the same. One `search_text` row per ticket: a search is one match in either database.

A query matches a ticket when every one of its words has one of its stems somewhere in the ticket:
"certificados caducados" finds "certificado caducado", "renovacion" finds "renovación".
"""

import functools
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence

import snowballstemmer

MAX_WORD = 40  # longer "words" are base64, hashes or URLs: never searched for
MAX_QUERY_WORDS = 12
_WORD = re.compile(r"[^\W_]+")
_ASCII = re.compile(r"^[a-z0-9]+$")
_LOCK = threading.Lock()  # Snowball stemmer objects keep state between calls
_STEMMERS = (snowballstemmer.stemmer("spanish"), snowballstemmer.stemmer("english"))


def fold(text: str) -> str:
    """Lower case without accents: "Renovación" -> "renovacion", "Ñandú" -> "nandu"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=200_000)
def stems(word: str) -> tuple[str, ...]:
    """The searchable forms of one lower-case word: Spanish and English stems, with and without
    its accents, folded; only plain [a-z0-9] forms (other scripts are not indexed)."""
    folded = fold(word)
    with _LOCK:
        forms = [fold(s.stemWord(w)) for w in dict.fromkeys((word, folded)) for s in _STEMMERS]
    return tuple(f for f in dict.fromkeys(forms) if _ASCII.match(f))


def words(text: str) -> list[str]:
    """The words of a text, lower case, in order (repeats kept)."""
    return [w for w in _WORD.findall(text.casefold()) if len(w) <= MAX_WORD]


def terms(texts: Iterable[str]) -> str:
    """What `search_text.terms` holds for these texts: their distinct stems, space separated."""
    found: dict[str, None] = {}
    for text in texts:
        for word in dict.fromkeys(words(text)):
            found.update(dict.fromkeys(stems(word)))
    return " ".join(found)


def query_groups(text: str) -> list[tuple[str, ...]]:
    """A search as groups of stems: a ticket matches when it has one stem of every group."""
    groups = [stems(w) for w in dict.fromkeys(words(text))]
    return [g for g in groups if g][:MAX_QUERY_WORDS]


def fts5_query(group: Sequence[str]) -> str:
    """One group as an FTS5 query: `"certific" OR "certificado"` (stems are [a-z0-9] only)."""
    return " OR ".join(f'"{stem}"' for stem in group)


def tsquery(group: Sequence[str]) -> str:
    """One group as a PostgreSQL tsquery literal: `'certific' | 'certificado'` (taken as it is)."""
    return " | ".join(f"'{stem}'" for stem in group)
