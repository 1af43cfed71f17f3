"""The web pages' words, in Spanish and English (the templates under templates/web/ show them)."""

from collections.abc import Mapping

LANGUAGES = ("es", "en")

TEXTS: Mapping[str, Mapping[str, str]] = {
    "es": {
        "title": "Atención personalizada",
        "intro": "Escríbanos y le responderemos por correo electrónico. Le enviaremos enseguida un acuse "
        "con la referencia de su consulta.",
        "faq_heading": "Quizá ya tengamos la respuesta",
        "faq_idle": "Mientras escribe el asunto o la consulta, aquí aparecerán las preguntas frecuentes que "
        "puedan responderla.",
        "faq_none": "No hemos encontrado preguntas frecuentes sobre esto.",
        "faq_found": "Preguntas frecuentes que pueden responder su consulta:",
        "required": "obligatorio",
        "optional": "opcional",
        "name": "Nombre",
        "email": "Correo electrónico",
        "email_hint": "Le enviaremos la respuesta a esta dirección.",
        "subject": "Asunto",
        "message": "Consulta",
        "category": "Tema",
        "category_none": "— Elija un tema —",
        "attachment": "Adjunto",
        "attachment_hint": "Un archivo de hasta {size}. No se admiten programas.",
        "website": "Deje este campo vacío",
        "send": "Enviar consulta",
        "errors_summary": "Revise los campos marcados: {count}.",
        "error_prefix": "Error:",
        "err_required": "Este campo es obligatorio.",
        "err_too_long": "Es demasiado largo.",
        "err_too_short": "Cuéntenos un poco más (al menos 10 caracteres).",
        "err_invalid_email": "Escriba una dirección de correo válida, como nombre@ejemplo.es.",
        "err_unknown": "Elija un tema de la lista.",
        "err_too_large": "El archivo supera el tamaño máximo ({size}).",
        "err_executable": "No se admiten programas ni scripts como adjunto.",
        "done_title": "Consulta recibida",
        "done_reference": "Hemos registrado su consulta con la referencia",
        "done_no_reference": "Hemos recibido su consulta. Le enviaremos la referencia por correo electrónico.",
        "done_mail": "Recibirá en unos minutos un acuse por correo electrónico. Si no lo ve, mire en la "
        "carpeta de correo no deseado.",
        "done_again": "Enviar otra consulta",
        "limited_title": "Demasiados envíos",
        "limited_body": "Hemos recibido muchas consultas desde aquí en la última hora. Vuelva a intentarlo "
        "más tarde o escríbanos a {address}.",
        "forbidden_title": "El formulario ha caducado",
        "forbidden_body": "No hemos podido comprobar el formulario (ha caducado o su navegador no acepta "
        "cookies). Vuelva a cargarlo y envíelo de nuevo.",
        "reload": "Volver al formulario",
        "too_big_title": "Envío demasiado grande",
        "too_big_body": "El envío supera el tamaño máximo ({size}). Adjunte un archivo más pequeño.",
        "unavailable_title": "Servicio no disponible",
        "unavailable_body": "No podemos registrar su consulta en este momento. Vuelva a intentarlo en unos "
        "minutos o escríbanos a {address}.",
        "other_language": "English",
    },
    "en": {
        "title": "Personal support",
        "intro": "Write to us and we will answer by email. We will send you an acknowledgement with your "
        "reference right away.",
        "faq_heading": "We may already have the answer",
        "faq_idle": "As you type the subject or your question, the frequently asked questions that may "
        "answer it will appear here.",
        "faq_none": "We found no frequently asked questions about this.",
        "faq_found": "Frequently asked questions that may answer you:",
        "required": "required",
        "optional": "optional",
        "name": "Name",
        "email": "Email address",
        "email_hint": "We will send our answer to this address.",
        "subject": "Subject",
        "message": "Your question",
        "category": "Topic",
        "category_none": "— Choose a topic —",
        "attachment": "Attachment",
        "attachment_hint": "One file up to {size}. Programs are not accepted.",
        "website": "Leave this field empty",
        "send": "Send",
        "errors_summary": "Please check the marked fields: {count}.",
        "error_prefix": "Error:",
        "err_required": "This field is required.",
        "err_too_long": "This is too long.",
        "err_too_short": "Please tell us a little more (at least 10 characters).",
        "err_invalid_email": "Enter a valid email address, like name@example.com.",
        "err_unknown": "Choose a topic from the list.",
        "err_too_large": "The file is larger than the limit ({size}).",
        "err_executable": "Programs and scripts cannot be attached.",
        "done_title": "Request received",
        "done_reference": "Your request is registered with the reference",
        "done_no_reference": "We have received your request. We will email you its reference.",
        "done_mail": "You will receive an acknowledgement by email in a few minutes. If you do not see it, "
        "look in your spam folder.",
        "done_again": "Send another request",
        "limited_title": "Too many requests",
        "limited_body": "We have received many requests from here in the last hour. Please try again later "
        "or write to {address}.",
        "forbidden_title": "The form has expired",
        "forbidden_body": "We could not check the form (it expired or your browser refuses cookies). "
        "Reload it and send it again.",
        "reload": "Back to the form",
        "too_big_title": "Request too large",
        "too_big_body": "The request is larger than the limit ({size}). Attach a smaller file.",
        "unavailable_title": "Service unavailable",
        "unavailable_body": "We cannot register your request right now. Please try again in a few minutes "
        "or write to {address}.",
        "other_language": "Español",
    },
}


def size_words(size: int, language: str) -> str:
    """5242880 → "5 MB" ("5 MB" in both languages; decimals with the language's comma)."""
    value = size / (1024 * 1024)
    text = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
    return (text.replace(".", ",") if language == "es" else text) + " MB"


def pick_language(query: str | None, accept_language: str, default: str) -> str:
    """?lang= first, then the browser's Accept-Language (its first es/en by weight), then the default."""
    if query in LANGUAGES:
        return query
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept_language.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES and weight > 0:
            ranked.append((-weight, index, primary))
    return min(ranked)[2] if ranked else default
