"""A new ticket's category and priority from keyword rules: whole words, subject over body. Pure.

Words are compared as `tickets.words` reads them (the FAQ's normaliser): accents folded, stop
words out, stemmed in the ticket's language; a multi-word keyword matches as a phrase. So
"importante" is not "import", and "he perdido la paciencia" is not "he perdido mi tarjeta".
A keyword found in the subject weighs SUBJECT_WEIGHT, in the body 1; the rule with the most
weight wins (ties: the first rule). A rule's `priority` applies only when it matched in the
subject or matched two distinct keywords: one word deep in a body does not make a ticket urgent.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from tickets import words

SUBJECT_WEIGHT = 3.0
BODY_WEIGHT = 1.0
NORMAL = "normal"
GENERAL = "general"


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryRuleSpec:
    name: str
    keywords: tuple[str, ...]
    priority: str = NORMAL


@dataclass(frozen=True, slots=True, kw_only=True)
class Categorised:
    """The decision, and why: the rule's keywords that matched, and whether one was in the subject."""

    category: str = GENERAL
    priority: str = NORMAL
    matched: tuple[str, ...] = ()
    in_subject: bool = False


@functools.lru_cache(maxsize=4096)
def _phrase(keyword: str, language: str) -> tuple[str, ...]:
    return words.phrase(keyword, language)


def categorise_message(subject: str, body: str, rules: Sequence[CategoryRuleSpec], language: str = "es") -> Categorised:
    """The best-weighted rule for a message (`body` without quotes or signature, as the user wrote it)."""
    subject_terms = words.terms(subject, language)
    body_terms = words.terms(body[:20_000], language)
    best, best_weight = Categorised(), 0.0
    for rule in rules:
        found = _matches(rule, subject_terms, body_terms, language)
        weight = sum(found.values())
        if weight > best_weight:
            in_subject = SUBJECT_WEIGHT in found.values()
            strong = in_subject or len(found) >= 2
            matched = tuple(" ".join(p) for p in found)
            best_weight = weight
            best = Categorised(
                category=rule.name, priority=rule.priority if strong else NORMAL, matched=matched, in_subject=in_subject
            )
    return best


def _matches(
    rule: CategoryRuleSpec, subject_terms: list[str], body_terms: list[str], language: str
) -> dict[tuple[str, ...], float]:
    """Each distinct keyword phrase of the rule found, with its weight ("revocar" and "revocación" are one)."""
    found: dict[tuple[str, ...], float] = {}
    for keyword in rule.keywords:
        phrase = _phrase(keyword, language)
        if not phrase or phrase in found:
            continue
        if words.contains_phrase(subject_terms, phrase):
            found[phrase] = SUBJECT_WEIGHT
        elif words.contains_phrase(body_terms, phrase):
            found[phrase] = BODY_WEIGHT
    return found


def categorise(
    text: str, rules: Sequence[CategoryRuleSpec], *, subject: str = "", language: str = "es"
) -> tuple[str, str]:
    """(category, priority) of a message whose body is `text`; see `categorise_message`."""
    decided = categorise_message(subject, text, rules, language)
    return decided.category, decided.priority
