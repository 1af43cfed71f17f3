"""The FAQ matcher on the labelled mails of tests/data/faq: the issue's targets, on the held-out split."""

from bench.faq import TARGETS, evaluate, load_entries, load_mails
from tickets.faq.match import FaqIndex


def test_the_labelled_set_is_what_the_issue_asks_for() -> None:
    entries, mails = load_entries(), load_mails()
    assert len(entries) >= 25 and {e.lang for e in entries} == {"es", "en"}
    assert len(mails) >= 120
    assert sum(1 for m in mails if not m.expected) >= 30
    ids = {e.id for e in entries}
    assert all(set(m.expected) <= ids for m in mails), "a mail expects an entry that does not exist"
    assert {m.split for m in mails} == {"tune", "test"}


def test_the_targets_are_met_on_the_test_split() -> None:
    mails = [m for m in load_mails() if m.split == "test"]
    figures = evaluate(FaqIndex.build(load_entries()), mails)
    assert figures.recall_at_3 >= TARGETS["recall@3"], figures
    assert figures.no_suggestion >= TARGETS["no-suggestion"], figures
    assert figures.recall_at_1 >= 0.7, figures


def test_an_index_that_suggests_everything_fails_the_no_suggestion_target() -> None:
    """The evaluation can fail: with no threshold every unanswerable mail gets a suggestion."""
    mails = [m for m in load_mails() if m.split == "test"]
    figures = evaluate(FaqIndex.build(load_entries(), threshold=0.0), mails)
    assert figures.no_suggestion < TARGETS["no-suggestion"]
