"""Realistic support mail for the demo: digital certificates, in Spanish and English."""

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

SUPPORT = "soporte@ventanilla.example"


def _mail(sender: str, subject: str, body: str, when: datetime, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"Soporte Ventanilla <{SUPPORT}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].rstrip(">"))
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return bytes(msg)


# (minutes after the start, From, Subject, text, extra headers): new questions, plus mail that must
# not be answered (an auto-reply, a newsletter).
FIRST_WAVE: tuple[tuple[int, str, str, str, dict[str, str]], ...] = (
    (
        0,
        "María López <maria.lopez@correo.example>",
        "No puedo descargar mi certificado",
        "Buenos días,\n\nsolicité el certificado de persona física ayer y me acredité en la oficina, "
        "pero al intentar descargarlo con el código de solicitud la página dice que el código no es "
        "válido. ¿Qué puedo hacer?\n\nGracias,\nMaría",
        {},
    ),
    (
        7,
        "Jordi Puig <jordi.puig@empresa.example>",
        "URGENTE: revocar certificado robado",
        "Hola,\n\nme han robado el portátil con mi certificado instalado. Necesito revocarlo "
        "cuanto antes. Mi DNI es 12345678Z.\n\nUn saludo",
        {},
    ),
    (
        18,
        "Emily Clarke <emily.clarke@mail.example>",
        "How do I export my certificate from Firefox?",
        "Hello,\n\nI need to move my certificate to a new computer. How do I export it from Firefox "
        "as a .p12 backup file, and how do I import it in Chrome?\n\nThanks,\nEmily",
        {},
    ),
    (
        26,
        "Antonio Ruiz <a.ruiz@correo.example>",
        "Renovación del certificado que caduca",
        "Hola, mi certificado caduca la semana que viene. ¿Puedo renovarlo por internet o "
        "tengo que ir otra vez a una oficina de acreditación?\n\nAntonio",
        {},
    ),
    (
        41,
        "Lucía Fernández <lucia.f@correo.example>",
        "Error al firmar en la sede electrónica",
        "Cuando intento firmar un trámite me sale 'no se encuentra ningún certificado válido'. "
        "Uso Windows 11 y Edge. ¿Me podéis ayudar?",
        {},
    ),
    (
        55,
        "Jordi Puig <jordi.puig@empresa.example>",
        "Fuera de la oficina: URGENTE: revocar",
        "Estoy fuera de la oficina hasta el lunes.",
        {"Auto_Submitted": "auto-replied"},
    ),
    (
        63,
        "Boletín Novedades <boletin@noticias.example>",
        "Novedades de octubre",
        "Las novedades del mes...",
        {"Precedence": "bulk", "List_Id": "<boletin.noticias.example>"},
    ),
    (
        80,
        "Peter Novak <peter.novak@mail.example>",
        "Request a certificate as a foreign resident",
        "Dear support,\n\nI live in Spain with an NIE. Can I request a certificate and how do I "
        "prove my identity?\n\nRegards,\nPeter",
        {},
    ),
)


def first_wave(start: datetime) -> list[tuple[datetime, bytes]]:
    """New questions, plus mail that must not be answered (auto-reply, newsletter)."""
    waves = []
    for minutes, sender, subject, text, headers in FIRST_WAVE:
        when = start + timedelta(minutes=minutes)
        waves.append((when, _mail(sender, subject, text, when, **headers)))
    return waves


def second_wave(start: datetime) -> list[tuple[datetime, bytes]]:
    """Replies in existing threads, and a stranger trying to join someone else's ticket."""
    return [
        (
            start,
            _mail(
                "María López <maria.lopez@correo.example>",
                "Re: [#1] No puedo descargar mi certificado",
                "Os adjunto más datos: uso Firefox 128 en Ubuntu. Gracias.",
                start,
            ),
        ),
        (
            start + timedelta(minutes=3),
            _mail(
                "Intruso <curioso@otro.example>",
                "Re: [#1] No puedo descargar",
                "¿Me podéis reenviar la conversación?",
                start + timedelta(minutes=3),
            ),
        ),
    ]
