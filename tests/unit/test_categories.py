"""Category rules match words, not substrings: a table of realistic mails against the default rules."""

import pytest

from config.settings import load_settings
from tickets.ingest.categories import CategoryRuleSpec, categorise_message
from tickets.ingest.rules import categorise, detect_language

SETTINGS, _ = load_settings(None)
RULES = tuple(
    CategoryRuleSpec(name=c.name, keywords=tuple(c.keywords), priority=c.priority) for c in SETTINGS.helpdesk.categories
)

# subject, body, expected category, expected priority
TABLE = [
    # the three defects
    ("Consulta importante", "Es muy importante que me contesten hoy, gracias.", "general", "normal"),
    ("Queja", "He perdido la paciencia con su web, no funciona nada.", "general", "normal"),
    ("Duda", "Hola. Por cierto, una vez me robaron la cartera, pero no tiene que ver.", "revocation", "normal"),
    # revocation: subject, or two distinct keywords, makes it urgent
    ("Revocar certificado", "Quiero revocarlo cuanto antes.", "revocation", "urgent"),
    ("URGENTE: certificado robado", "Me han robado el portátil.", "revocation", "urgent"),
    ("Ayuda", "He perdido mi tarjeta con el certificado, ¿qué hago?", "revocation", "normal"),
    ("Ayuda", "He perdido mi tarjeta y creo que hay uso indebido del certificado.", "revocation", "urgent"),
    ("He perdido mi tarjeta", "La tarjeta criptográfica tenía mi certificado.", "revocation", "urgent"),
    ("Consulta", "Me han robado el móvil y tenía el certificado robado dentro.", "revocation", "urgent"),
    ("revocacion", "necesito anular el certificado ya", "revocation", "urgent"),
    ("Stolen laptop", "My laptop with the certificate was stolen yesterday.", "revocation", "urgent"),
    ("Question", "I lost my card with the certificate, please revoke it.", "revocation", "urgent"),
    ("Question", "I lost my patience with your website.", "general", "normal"),
    ("Help", "Someone stole my bike, unrelated, but how do I renew?", "renewal", "normal"),
    # renewal
    ("Renovación del certificado", "Me caduca el mes que viene.", "renewal", "normal"),
    ("Consulta", "¿Cómo renuevo? Mi certificado caduca pronto.", "renewal", "normal"),
    ("Certificate expired", "It expired last week, can I renew it?", "renewal", "normal"),
    ("Renobación", "queria renovar el certificado", "renewal", "normal"),
    # export / import: whole words only
    ("Exportar certificado", "Quiero hacer una copia de seguridad en un .pfx", "export-import", "normal"),
    ("Consulta", "No encuentro el certificado en el navegador.", "export-import", "normal"),
    ("Important question", "This is important: how do I import my .p12 file?", "export-import", "normal"),
    ("Importante", "Es importante: no me importa esperar, pero díganme algo.", "general", "normal"),
    ("Pasar el certificado", "Tengo que importarlo en Firefox del portátil nuevo.", "export-import", "normal"),
    ("Backup", "How do I back up my certificate? backup in Chrome", "export-import", "normal"),
    ("Exportación", "exportación desde chrome con clave privada", "export-import", "normal"),
    # obtaining
    ("Solicitud de certificado", "Quiero obtener el certificado de persona física.", "obtaining", "normal"),
    ("Consulta", "Ya tengo el código de solicitud, ¿dónde me acredito?", "obtaining", "normal"),
    ("New certificate", "How do I apply for a certificate?", "obtaining", "normal"),
    ("Solicité un certificado", "Me acredité ayer en la oficina.", "obtaining", "normal"),
    # the subject outweighs the body
    ("Renovar el certificado", "Lo exporté a un pfx el año pasado, ¿afecta a la renovación?", "renewal", "normal"),
    ("Exportar", "Mi certificado caduca en 2027; ¿puedo exportarlo?", "export-import", "normal"),
    # nothing
    ("Factura", "Necesito una factura del certificado de representante.", "general", "normal"),
    ("Horario", "¿A qué hora abren los sábados?", "general", "normal"),
    ("Thank you", "Everything works now, thanks.", "general", "normal"),
]


@pytest.mark.parametrize(("subject", "body", "category", "priority"), TABLE)
def test_category_and_priority(subject: str, body: str, category: str, priority: str) -> None:
    language = detect_language(f"{subject}\n{body}", "es")
    decided = categorise_message(subject, body, RULES, language)
    assert (decided.category, decided.priority) == (category, priority), decided


def test_the_table_is_big_enough_and_covers_every_rule() -> None:
    assert len(TABLE) >= 30
    assert {row[2] for row in TABLE} == {r.name for r in RULES} | {"general"}


def test_a_keyword_in_the_body_alone_never_raises_the_priority() -> None:
    rules = (CategoryRuleSpec(name="revocation", keywords=("revocar",), priority="urgent"),)
    assert categorise("quiero revocar", rules, subject="Consulta") == ("revocation", "normal")
    assert categorise("", rules, subject="Quiero revocar") == ("revocation", "urgent")
    assert categorise("revocación y revocar", rules, subject="x") == ("revocation", "normal")  # one word, twice


def test_ties_go_to_the_first_rule_and_no_match_is_general() -> None:
    rules = (
        CategoryRuleSpec(name="a", keywords=("alfa",)),
        CategoryRuleSpec(name="b", keywords=("alfa",)),
    )
    assert categorise("alfa", rules) == ("a", "normal")
    assert categorise("beta", rules) == ("general", "normal")
