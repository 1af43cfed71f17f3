"""Support mail as real mail clients send it, for benchmarks: the headers, MIME and sizes of the wild.

`tests.mailgen` writes the smallest valid message (one text part, six headers); a mailbox of
real users' mail looks different, and parsing cost follows what is in it. Each message here
comes from one of five client profiles (Gmail, Outlook, Thunderbird, Apple Mail, a phone) with
the trace a receiving server adds (Received chain, DKIM-Signature, ARC, Authentication-Results),
multipart/alternative text + HTML (Outlook's HTML is heavy), quoted-printable or base64 bodies
in UTF-8 or ISO-8859-1, RFC 2047 names and subjects, replies quoting the thread below a
signature, and about one in six carrying a screenshot or a PDF. Deterministic for a seed, except
the MIME boundaries (the standard library draws them).
"""

import base64
import hashlib
import random
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from tests.mailgen import SUPPORT, TOPICS_EN, TOPICS_ES, thread_plan

NAMES = [
    "María José Fernández",
    "José Ángel Muñoz",
    "Íñigo Etxeberria",
    "Begoña Núñez",
    "Raúl Peña",
    "Anna Schmidt",
    "John O'Connor",
    "Zoë Martin",
    "Joan Vilà",
    "Lucía Gómez",
]
DOMAINS = ["gmail.com", "outlook.es", "hotmail.com", "yahoo.es", "telefonica.net", "correo.gob.example"]
CLIENTS = ["gmail", "outlook", "thunderbird", "apple", "phone"]
SIGNATURES = [
    "Un saludo,\n{name}\nAyuntamiento de Villanueva · Servicio de Atención Ciudadana\nTel. 900 000 000",
    "Saludos cordiales,\n{name}",
    "Enviado desde mi iPhone",
    "--\n{name}\nGestoría López & Asociados, S.L.\nC/ Mayor 12, 28013 Madrid\n"
    "Este mensaje y sus adjuntos son confidenciales. Si lo ha recibido por error, bórrelo.",
    "Best regards,\n{name}",
]
MORE = [
    "He probado con Firefox y con Chrome y en los dos me pasa lo mismo.",
    "El error aparece justo después de introducir la contraseña de la tarjeta.",
    "Uso Windows 11 y el lector de tarjetas es el que venía con el portátil.",
    "Ya he borrado la caché del navegador y he reiniciado el equipo.",
    "Necesito el certificado para presentar una declaración antes del viernes.",
    "I followed the steps on your website but the download button does nothing.",
    "The certificate appears in the browser but the site says it is not valid.",
]


ACK_TEXT = (
    "Hemos recibido su consulta y le hemos asignado la referencia [#{n}].\n"
    "Le responderemos en un plazo máximo de 24 horas.\n\n"
    "Si su consulta es urgente, llame al 900 000 000 (de lunes a viernes, de 9:00 a 18:00).\n"
    "Para revocar un certificado, llame al 900 000 001 (24 horas, todos los días).\n\n"
    "Su mensaje:\n{body}\n"
)


def _fold(name: str, value: str, width: int = 76) -> str:
    """A header line folded the way signers and MTAs do it: at spaces, long tokens cut with a tab."""
    lines, line = [], f"{name}:"
    for word in value.split(" "):
        while len(line) + 1 + len(word) > width and len(word) > width - 8:
            room = max(width - len(line) - 1, 8)
            line, word = f"{line} {word[:room]}", word[room:]
            lines.append(line)
            line = "\t"
        if len(line) + 1 + len(word) > width and line.strip():
            lines.append(line)
            line = "\t" + word
        else:
            line = f"{line} {word}" if line != "\t" else line + word
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


def _trace(rng: random.Random, sender_domain: str, when: datetime, client: str) -> list[tuple[str, str]]:
    """The headers a receiving server and the sender's provider add, newest first."""
    hops = rng.randint(3, 6)
    headers = [
        ("Return-Path", ""),  # filled by the caller
        ("Delivered-To", SUPPORT),
    ]
    for hop in range(hops):
        stamp = format_datetime(when - timedelta(seconds=hop * rng.randint(1, 4)))
        ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        headers.append(
            (
                "Received",
                f"from mail-{rng.randint(1, 99)}.{sender_domain} (mail-{rng.randint(1, 99)}.{sender_domain} [{ip}])"
                f" by mx{hop}.ventanilla.example (Postfix) with ESMTPS id {_b64(rng, 9)[:12]}"
                f" for <{SUPPORT}>; {stamp}",
            )
        )
    body_hash, signature = _b64(rng, 32), _b64(rng, 256)
    headers.append(
        (
            "Authentication-Results",
            f"mx0.ventanilla.example; dkim=pass (2048-bit key) header.d={sender_domain} header.i=@{sender_domain} "
            f"header.b={signature[:8]}; spf=pass smtp.mailfrom={sender_domain}; "
            f"dmarc=pass (p=NONE) header.from={sender_domain}",
        )
    )
    if client == "gmail":
        for name in ("ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"):
            headers.append(
                (
                    name,
                    f"i=1; a=rsa-sha256; d=google.com; s=arc-20240605; t={int(when.timestamp())}; "
                    f"cv=none; b={_b64(rng, 256)}",
                )
            )
        headers.append(("X-Google-Smtp-Source", _b64(rng, 60)))
        headers.append(
            (
                "X-Received",
                f"by 2002:a17:907:{rng.randint(1000, 9999)} with SMTP id {_b64(rng, 12)}; {format_datetime(when)}",
            )
        )
    headers.append(
        (
            "DKIM-Signature",
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender_domain}; s=s1; t={int(when.timestamp())}; "
            f"h=to:subject:message-id:date:from:mime-version:content-type; bh={body_hash}; b={signature}",
        )
    )
    if client == "outlook":
        for name in (
            "X-MS-Exchange-Organization-AuthAs",
            "X-MS-Has-Attach",
            "X-MS-TNEF-Correlator",
            "X-MS-Office365-Filtering-Correlation-Id",
            "X-MS-TrafficTypeDiagnostic",
            "X-Microsoft-Antispam",
            "X-Microsoft-Antispam-Message-Info",
            "X-Forefront-Antispam-Report",
            "X-MS-Exchange-AntiSpam-MessageData-ChunkCount",
            "X-MS-Exchange-AntiSpam-MessageData-0",
            "X-MS-Exchange-CrossTenant-OriginalArrivalTime",
            "X-MS-Exchange-CrossTenant-Id",
            "X-MS-Exchange-Transport-CrossTenantHeadersStamped",
        ):
            headers.append((name, _b64(rng, rng.choice((12, 40, 120, 400)))))
        headers.append(("Thread-Topic", "consulta"))
        headers.append(("Thread-Index", _b64(rng, 22)))
    return headers


def _html(text: str, client: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    if client == "outlook":
        head = (
            '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">'
            '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            '<meta name="Generator" content="Microsoft Word 15 (filtered medium)"><style><!--'
            + "".join(
                f'p.MsoNormal{i}, li.MsoNormal{i} {{margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}}\n'
                for i in range(12)
            )
            + '--></style></head><body lang="ES" link="#0563C1" vlink="#954F72"><div class="WordSection1">'
        )
        body = "".join(
            f'<p class="MsoNormal"><span style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif;'
            f'color:#1F497D">{line}</span><o:p></o:p></p>'
            for p in paragraphs
            for line in p.split("\n")
        )
        return head + body + "</div></body></html>"
    if client == "gmail":
        return (
            '<div dir="ltr">'
            + "".join(f"<div>{p.replace(chr(10), '<br>')}</div><div><br></div>" for p in paragraphs)
            + "</div>"
        )
    return "<html><body>" + "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs) + "</body></html>"


def _attachment(rng: random.Random, msg: EmailMessage) -> None:
    if rng.random() < 0.6:
        size = rng.randint(20_000, 120_000)
        data = b"\x89PNG\r\n\x1a\n" + rng.randbytes(size)
        msg.add_attachment(
            data, maintype="image", subtype="png", filename=f"captura de pantalla {rng.randint(1, 99)}.png"
        )
    else:
        size = rng.randint(30_000, 200_000)
        data = b"%PDF-1.7\n" + rng.randbytes(size)
        msg.add_attachment(data, maintype="application", subtype="pdf", filename="solicitud_certificado_firmada.pdf")


def realistic_message(
    *,
    rng: random.Random,
    index: int,
    sender: str,
    name: str,
    subject: str,
    body: str,
    when: datetime,
    parent: dict | None = None,
) -> tuple[str, bytes]:
    """(Message-ID, raw bytes) of one message as a user's mail client would send it."""
    client = CLIENTS[index % len(CLIENTS)]
    domain = sender.split("@")[1]
    charset = "iso-8859-1" if client == "outlook" and index % 2 else "utf-8"
    message_id = f"<{hashlib.sha1(f'{index}{sender}'.encode()).hexdigest()[:20]}.{index}@{domain}>"
    signature = rng.choice(SIGNATURES).format(name=name)
    extra = " ".join(rng.sample(MORE, rng.randint(1, 3)))
    text = f"Hola,\n\n{body}\n\n{extra}\n\n{signature}\n"
    if parent is not None:
        quoted = "\n".join("> " + line for line in parent["text"].splitlines())
        text += f"\nEl {format_datetime(parent['when'])}, Soporte Ventanilla <{SUPPORT}> escribió:\n{quoted}\n"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(name, addr_spec=sender)
    msg["To"] = Address("Soporte Ventanilla", addr_spec=SUPPORT)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = message_id
    if parent is not None:
        msg["In-Reply-To"] = parent["message_id"]
        msg["References"] = " ".join([*parent.get("references", []), parent["message_id"]])
    msg["MIME-Version"] = "1.0"
    msg["Content-Language"] = "es-ES"
    msg["User-Agent" if client in ("thunderbird", "phone") else "X-Mailer"] = {
        "gmail": "Google Mail",
        "outlook": "Microsoft Outlook 16.0",
        "thunderbird": "Mozilla Thunderbird 128.3",
        "apple": "Apple Mail (2.3826.200.121)",
        "phone": "K-9 Mail for Android",
    }[client]
    cte = "base64" if client == "apple" else "quoted-printable"
    msg.set_content(text, charset=charset, cte=cte)
    if client != "phone":
        msg.add_alternative(_html(text, client), subtype="html", charset="utf-8", cte=cte)
    if rng.random() < 1 / 6:
        _attachment(rng, msg)
    trace = "".join(_fold(header, value or f"<{sender}>") for header, value in _trace(rng, domain, when, client))
    return message_id, trace.encode("ascii") + bytes(msg)


def realistic_backlog(count: int, *, reply_every: int = 5, seed: int = 7) -> list[dict]:
    """Like `tests.mailgen.backlog` (same fields), with messages as real clients send them."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i, when, root in thread_plan(count, reply_every=reply_every, rng=rng):
        if root is not None:
            parent = out[root]
            mid, raw = realistic_message(
                rng=rng,
                index=i,
                sender=parent["sender"],
                name=parent["name"],
                subject="RE: " + parent["subject"],
                body="Os adjunto más datos de lo que me pasa.",
                when=when,
                parent=parent,
            )
            out.append(
                {
                    "message_id": mid,
                    "raw": raw,
                    "sender": parent["sender"],
                    "name": parent["name"],
                    "subject": parent["subject"],
                    "parent": root,
                    "when": when,
                    "text": "",
                }
            )
            continue
        subject, body = rng.choice(TOPICS_ES + TOPICS_EN)
        name = rng.choice(NAMES)
        sender = f"user{i}@{DOMAINS[i % len(DOMAINS)]}"
        mid, raw = realistic_message(
            rng=rng, index=i, sender=sender, name=name, subject=f"{subject} ({i})", body=body, when=when
        )
        out.append(
            {
                "message_id": mid,
                "raw": raw,
                "sender": sender,
                "name": name,
                "subject": f"{subject} ({i})",
                "parent": None,
                "when": when,
                "text": ACK_TEXT.format(n=1000 + i, body=body),
            }
        )
    return out
