"""The one normaliser of the matchers: folding, stop words, stems, phrases."""

from tickets import words


def test_accents_case_and_punctuation_fold_to_the_same_terms() -> None:
    assert words.terms("REVOCACIÓN del certificado", "es") == words.terms("revocacion certificado", "es")
    assert words.terms("contraseña", "es") == words.terms("contrasena", "es")
    assert words.words("mi .pfx y el e-mail") == ["mi", "pfx", "y", "el", "e", "mail"]


def test_inflections_share_a_stem_and_lookalikes_do_not() -> None:
    assert words.terms("renovar", "es") == words.terms("renovación", "es")
    assert words.terms("exported", "en") == words.terms("export", "en")
    assert words.terms("importante", "es") != words.terms("importar", "es")
    assert words.terms("important", "en") != words.terms("import", "en")
    assert words.terms("renobar", "es") == words.terms("renovar", "es")  # b and v, in Spanish only
    assert words.terms("very", "en") != words.terms("bery", "en")


def test_stop_words_go_and_phrases_match_consecutive_terms() -> None:
    assert words.terms("He perdido la paciencia", "es") == [words.stem("perdido", "es"), "paciencia"]
    phrase = words.phrase("he perdido mi tarjeta", "es")
    assert words.contains_phrase(words.terms("Ayer he perdido la tarjeta", "es"), phrase)
    assert not words.contains_phrase(words.terms("He perdido la paciencia con la tarjeta", "es"), phrase)
    assert not words.contains_phrase([], phrase) and not words.contains_phrase(["a"], ())
