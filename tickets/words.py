"""Words as the matchers compare them: lower case, accents folded, stop words out, stemmed. Pure.

One normaliser for every matcher (the FAQ's ranking, the category rules), so a word that
matches in one matches in the other. Snowball stemmers (`snowballstemmer`, which uses
PyStemmer's C code when it is installed) for Spanish and English. Accents are folded before
stemming, so "revocación" and "revocacion" are one word; "perdí" and "perdi" too.
"""

import functools
import re
import unicodedata
from collections.abc import Iterable

import snowballstemmer

LANGUAGES = {"es": "spanish", "en": "english"}
_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")

# Words whose stem would collide with a word of the trade: "importante" stems like "importar".
# They stay as they are (what Snowball's own exception lists do for English).
_KEEP = frozenset(
    {
        "importante",
        "importantes",
        "importancia",
        "importa",
        "important",
        "importantly",
        "importance",
        "paciencia",
        "patience",
    }
)

_STOP_ES = frozenset(
    """
    a al algo alguien algun alguna algunas alguno algunos ante antes asi aun aunque bien buen buena buenas
    buenos cada casi como con contra cual cuales cuando de del desde donde dos el ella ellas ellos en entre
    era eran es esa esas ese eso esos esta estaba estamos estan estar este esto estos estoy fue fueron ha
    habia han has hay he hola hasta la las le les lo los mas me mi mis mucho muchas muchos muy nada ni no
    nos nosotros o os otra otro para pero poco por porque puede pueden que quien se sea ser si sido sin
    sobre solo son su sus tambien tan tanto te tengo tiene tienen todo todos tu tus un una uno unos usted
    ustedes y ya yo gracias saludos dias tardes noches favor cordial atentamente estimados estimado
    buenas quisiera queria querria necesito ayuda consulta pregunta problema hacer hago hecho pasa
    ocurre cosa ahora hoy ayer vez veces da dar quiero quieres puedo podria podrian pueden saber
    """.split()
)
_STOP_EN = frozenset(
    """
    a about after again all also am an and any are as at be been before being but by can could did do
    does doing done for from had has have having he her here hi hello him his how i if in into is it its
    just me more most my no not now of off on once only or other our out over own please same she should
    so some such than thanks thank that the their them then there these they this those to too under
    until up very was we were what when where which while who why will with would you your yours dear
    regards best kind sir madam help need question problem issue today yesterday like want know
    """.split()
)
STOP_WORDS = {"es": _STOP_ES, "en": _STOP_EN}


def fold(text: str) -> str:
    """Lower case without accents (ñ becomes n: users often write it so)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    if decomposed.isascii():  # nothing to strip: skip the loop over every character
        return decomposed
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of a text, in order ("p12", ".pfx" as "pfx", "e-mail" as "e", "mail")."""
    return _WORD.findall(fold(text))


@functools.lru_cache(maxsize=64)
def _stemmer(language: str) -> "snowballstemmer.stemmer":
    return snowballstemmer.stemmer(LANGUAGES.get(language, "spanish"))


@functools.lru_cache(maxsize=65536)
def stem(word: str, language: str) -> str:
    """The stem of one folded word in `language` ('es' or 'en'; anything else is Spanish)."""
    if word in _KEEP or len(word) < 3 or word[0].isdigit():
        return word
    return str(_stemmer(language).stemWord(word))


def terms(text: str, language: str) -> list[str]:
    """The stems of a text's words that are not stop words, in order: what matchers compare."""
    stop = STOP_WORDS.get(language, _STOP_ES)
    return [_sound(stem(w, language), language) for w in words(text) if w not in stop]


def _sound(term: str, language: str) -> str:
    """Spanish writers mix up b and v ("renobar"): one letter for both, on either side."""
    return term.replace("v", "b") if language != "en" else term


def phrase(keyword: str, language: str) -> tuple[str, ...]:
    """A keyword or multi-word phrase as a sequence of terms (stop words out, as in `terms`)."""
    found = terms(keyword, language)
    return tuple(found) if found else tuple(_sound(stem(w, language), language) for w in words(keyword))


def contains_phrase(haystack: Iterable[str] | list[str], needle: tuple[str, ...]) -> bool:
    """Whether `needle` occurs in `haystack` as consecutive terms."""
    seq = haystack if isinstance(haystack, list) else list(haystack)
    size = len(needle)
    if not size or size > len(seq):
        return False
    first = needle[0]
    return any(seq[i : i + size] == list(needle) for i, term in enumerate(seq) if term == first)
