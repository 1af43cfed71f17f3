"""FAQ files: what parses, and one line naming what is wrong for what does not."""

from pathlib import Path

import pytest

from tickets.faq.entries import FaqEntry, load_faq, parse_entry
from tickets.faq.match import FaqIndex

GOOD = """+++
title = "¿Cómo renuevo mi certificado?"
url = "https://example.org/faq/renovar"
lang = "es"
keywords = ["renovar", "caducado"]
+++
Puede renovar su certificado en los últimos 60 días de vigencia.
"""


def test_an_entry_parses_with_its_stem_as_id(tmp_path: Path) -> None:
    (tmp_path / "renovar.md").write_text(GOOD, encoding="utf-8")
    entries, problems = load_faq(tmp_path)
    assert problems == []
    assert entries == [
        FaqEntry(
            id="renovar",
            title="¿Cómo renuevo mi certificado?",
            url="https://example.org/faq/renovar",
            lang="es",
            keywords=("renovar", "caducado"),
            body="Puede renovar su certificado en los últimos 60 días de vigencia.",
        )
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title = 'x'\n", "no front matter"),
        ("+++\ntitle = 'x'\n", "front matter not closed"),
        ("+++\ntitle = \n+++\n", "not valid TOML"),
        ("+++\nurl = 'https://e.org'\nlang = 'es'\n+++\n", "title is missing"),
        ("+++\ntitle = 'x'\nlang = 'es'\n+++\n", "url is missing"),
        ("+++\ntitle = 'x'\nurl = 'https://e.org'\n+++\n", "lang is missing"),
        ("+++\ntitle = 'x'\nurl = 'https://e.org'\nlang = 'fr'\n+++\n", "lang must be 'es' or 'en'"),
        ("+++\ntitle = 'x'\nurl = 'ftp://e.org'\nlang = 'es'\n+++\n", "url must start with"),
        ("+++\ntitle = 'x'\nurl = 'https://e.org'\nlang = 'es'\nkeywords = 'a'\n+++\n", "keywords must be a list"),
        ("+++\ntitle = 'x'\nurl = 'https://e.org'\nlang = 'es'\ntags = []\n+++\n", "unknown key 'tags'"),
        ("+++\ntitle = 3\nurl = 'https://e.org'\nlang = 'es'\n+++\n", "title must be a non-empty string"),
    ],
)
def test_a_bad_file_is_one_problem_and_the_rest_load(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.md").write_text(text, encoding="utf-8")
    (tmp_path / "good.md").write_text(GOOD, encoding="utf-8")
    entries, problems = load_faq(tmp_path)
    assert [e.id for e in entries] == ["good"]
    assert len(problems) == 1 and problems[0].path.endswith("bad.md")
    assert message in problems[0].message
    assert "\n" not in problems[0].line()


def test_undecodable_bytes_and_a_missing_folder_are_problems(tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes(GOOD.encode("latin-1"))
    entries, problems = load_faq(tmp_path)
    assert entries == [] and "cannot read it" in problems[0].message
    assert load_faq(tmp_path / "nowhere")[1][0].message == "not a folder"


def _entry(entry_id: str, title: str, keywords: tuple[str, ...], body: str, lang: str = "es") -> FaqEntry:
    return FaqEntry(id=entry_id, title=title, url=f"https://e.org/{entry_id}", lang=lang, keywords=keywords, body=body)


INDEX = FaqIndex.build(
    [
        parse_entry("renovar", GOOD),
        _entry("revocar", "Revocar un certificado", ("revocar", "robo"), "Llame a la línea de revocación."),
        _entry("pfx", "He olvidado la contraseña del .pfx", ("contraseña", "pfx"), "La contraseña no se recupera."),
        _entry("export", "Exportar el certificado desde Firefox", ("exportar", "copia de seguridad"), "Menú Ajustes."),
        _entry("renew-en", "How do I renew my certificate?", ("renew", "expired"), "Renew it online.", "en"),
    ]
)


def test_the_matching_entry_comes_first_without_accents_and_with_inflections() -> None:
    found = INDEX.suggest("olvide la contrasena de mi archivo PFX, que hago?", "es")
    assert found and found[0].entry_id == "pfx"
    assert INDEX.suggest("Quiero exportarlo desde firefox para tener una copia", "es")[0].entry_id == "export"


def test_only_the_tickets_language_and_nothing_below_the_threshold() -> None:
    assert [s.entry_id for s in INDEX.suggest("my certificate expired, how can I renew it?", "en")] == ["renew-en"]
    assert INDEX.suggest("my certificate expired, how can I renew it?", "fr") == []
    assert INDEX.suggest("¿Emiten ustedes facturas a empresas?", "es") == []
    assert INDEX.suggest("", "es") == []


def test_limit_and_order() -> None:
    ranked = INDEX.rank("renovar revocar exportar contraseña", "es", limit=4)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
    assert len(INDEX.suggest("renovar revocar exportar contraseña", "es", limit=2)) <= 2
    assert INDEX.suggest("renovar", "es", limit=0) == []
