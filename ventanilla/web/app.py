"""The web form's routes: GET / (the form), POST / (a submission), GET /faq/suggest (JSON)."""

import asyncio
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from config.settings import Settings
from tickets.clock import Clock
from tickets.errors import DatabaseUnavailableError
from tickets.ingest.rules import detect_language
from tickets.web.csrf import MAX_AGE, CsrfError, CsrfKey
from tickets.web.form import Attachment, FormInput, validate
from tickets.web.spam import spam_reason
from ventanilla.web.desk import Client, Outcome, WebDesk, min_fill
from ventanilla.web.faq import FaqSuggestion, NoFaq, Suggester, as_json
from ventanilla.web.pages import STATIC_TYPES, form_page, message_page, static_file
from ventanilla.web.security import SecurityHeaders
from ventanilla.web.texts import LANGUAGES, TEXTS, pick_language, size_words

logger = logging.getLogger("ventanilla.web")
COOKIE = "ventanilla_form"
FORM_OVERHEAD = 256 * 1024  # the text fields and the multipart framing, beyond the attachment
QUERY_MAX = 500
NO_STORE = {"cache-control": "no-store"}


@dataclass(frozen=True, slots=True, kw_only=True)
class WebParts:
    """What the routes share."""

    settings: Settings
    clock: Clock
    key: CsrfKey
    desk: WebDesk
    faq: Suggester


def build_web_app(parts: WebParts) -> SecurityHeaders:
    """The ASGI app (Starlette behind the security headers)."""
    routes = [
        Route("/", _form, methods=["GET"]),
        Route("/", _post, methods=["POST"]),
        Route("/faq/suggest", _suggest, methods=["GET"]),
        Route("/static/{name}", _static, methods=["GET"]),
        Route("/favicon.ico", _no_icon, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.parts = parts
    return SecurityHeaders(app)


def _parts(request: Request) -> WebParts:
    parts: WebParts = request.app.state.parts
    return parts


def _lang(request: Request, parts: WebParts) -> str:
    return pick_language(
        request.query_params.get("lang"), request.headers.get("accept-language", ""), parts.settings.helpdesk.language
    )


def _render_form(
    request: Request,
    parts: WebParts,
    lang: str,
    *,
    form: dict[str, str],
    errors: dict[str, str],
    status: int,
    issued: datetime | None = None,
) -> Response:
    """The form; after errors, its token keeps the first page's time (correcting a field is no bot's speed)."""
    nonce = request.cookies.get(COOKIE, "")
    if not nonce or len(nonce) > 64 or not nonce.replace("-", "").replace("_", "").isalnum():
        nonce = secrets.token_urlsafe(18)
    html = form_page(
        lang=lang,
        helpdesk_name=parts.settings.helpdesk.name,
        csrf_token=parts.key.issue(nonce, issued or parts.clock.now()),
        form=form,
        errors=errors,
        categories=tuple(c.name for c in parts.settings.helpdesk.categories),
        max_attachment_bytes=parts.settings.web.max_attachment_bytes,
    )
    response = HTMLResponse(html, status_code=status, headers=NO_STORE)
    secure = request.url.scheme == "https"
    max_age = int(MAX_AGE.total_seconds())
    response.set_cookie(COOKIE, nonce, max_age=max_age, httponly=True, samesite="strict", secure=secure)
    return response


async def _form(request: Request) -> Response:
    parts = _parts(request)
    return _render_form(request, parts, _lang(request, parts), form={}, errors={}, status=200)


def _message(
    parts: WebParts, lang: str, kind: str, status: int, *, reference: int | None = None, retry_after: int = 0
) -> Response:
    t = TEXTS[lang]
    size = size_words(parts.settings.web.max_attachment_bytes, lang)
    address = parts.settings.helpdesk.address
    pages = {
        "done": (t["done_title"], [t["done_mail"]] if reference else [t["done_no_reference"], t["done_mail"]]),
        "limited": (t["limited_title"], [t["limited_body"].format(address=address)]),
        "forbidden": (t["forbidden_title"], [t["forbidden_body"]]),
        "too_big": (t["too_big_title"], [t["too_big_body"].format(size=size)]),
        "unavailable": (t["unavailable_title"], [t["unavailable_body"].format(address=address)]),
    }
    heading, paragraphs = pages[kind]
    link = t["done_again"] if kind == "done" else t["reload"]
    html = message_page(
        lang=lang,
        helpdesk_name=parts.settings.helpdesk.name,
        heading=heading,
        paragraphs=paragraphs,
        link=link,
        reference=reference,
    )
    headers = NO_STORE | ({"retry-after": str(retry_after)} if retry_after else {})
    return HTMLResponse(html, status_code=status, headers=headers)


def _answer(parts: WebParts, lang: str, outcome: Outcome) -> Response:
    if outcome.capped:  # Retry-After: when the cap's hour frees a place (RFC 9110, 10.2.3)
        return _message(parts, lang, "limited", 429, retry_after=outcome.retry_after)
    return _message(parts, lang, "done", 200, reference=outcome.ticket_id)


async def _read_form(request: Request, limit: int) -> tuple[FormInput, str]:
    """The fields, the attachment (up to limit + 1 bytes: enough to tell it is too large), the token."""
    data = await request.form(max_files=1, max_fields=20)
    try:
        upload = data.get("attachment")
        attachment = None
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read(limit + 1)
            attachment = Attachment(
                filename=upload.filename, content_type=upload.content_type or "application/octet-stream", data=content
            )
        fields = {name: data.get(name) for name in ("name", "email", "subject", "message", "category", "website")}
        texts = {name: value if isinstance(value, str) else "" for name, value in fields.items()}
        token = data.get("csrf_token")
        return FormInput(**texts, attachment=attachment), token if isinstance(token, str) else ""
    finally:
        await data.close()


async def _post(request: Request) -> Response:
    parts = _parts(request)
    lang = _lang(request, parts)
    web = parts.settings.web
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return Response("Content-Length required\n", status_code=411)
    if int(length) > web.max_attachment_bytes + FORM_OVERHEAD:
        return _message(parts, lang, "too_big", 413)
    form, token = await _read_form(request, web.max_attachment_bytes)
    try:
        issued = parts.key.check(token, request.cookies.get(COOKIE, ""), parts.clock.now())
    except CsrfError as exc:
        logger.info("web form: submission refused (%s)", exc)
        return _message(parts, lang, "forbidden", 403)
    client = Client(ip=request.client.host if request.client else "", user_agent=request.headers.get("user-agent", ""))
    spam = spam_reason(honeypot=form.website, filled_in=parts.clock.now() - issued, minimum=min_fill(parts.settings))
    try:
        if spam:
            outcome = await asyncio.to_thread(
                parts.desk.ignore,
                reason=spam,
                email=form.email.strip().lower(),
                name=form.name,
                subject=form.subject,
                client=client,
                lang=lang,
            )
            return _answer(parts, lang, outcome)
        categories = tuple(c.name for c in parts.settings.helpdesk.categories)
        submission, errors = validate(form, categories=categories, max_attachment_bytes=web.max_attachment_bytes)
        if submission is None:
            kept = {f: getattr(form, f) for f in ("name", "email", "subject", "message", "category")}
            return _render_form(request, parts, lang, form=kept, errors=errors, status=422, issued=issued)
        outcome = await asyncio.to_thread(parts.desk.submit, submission, client, lang)
    except DatabaseUnavailableError:
        logger.error("web form: the database is unavailable; submission refused (503)")
        return _message(parts, lang, "unavailable", 503)
    return _answer(parts, lang, outcome)


async def _suggest(request: Request) -> Response:
    parts = _parts(request)
    text = request.query_params.get("q", "")[:QUERY_MAX]
    lang = request.query_params.get("lang", "")
    if lang not in LANGUAGES:
        lang = parts.settings.helpdesk.language
    found = await asyncio.to_thread(_suggestions, parts.faq, text, lang) if text.strip() else []
    return JSONResponse(as_json(found), headers={"cache-control": "no-store"})


def _suggestions(faq: Suggester, text: str, lang: str) -> Sequence[FaqSuggestion]:
    """In the page's language; none there, in the language the text is written in."""
    found = faq.suggest(text, lang, 3)
    written_in = detect_language(text, lang)
    if not found and written_in != lang:
        found = faq.suggest(text, written_in, 3)
    return found


async def _no_icon(request: Request) -> Response:
    return Response(status_code=204)


async def _static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC_TYPES:
        return Response("not found\n", status_code=404, media_type="text/plain")
    return Response(static_file(name), media_type=STATIC_TYPES[name], headers={"cache-control": "max-age=3600"})


__all__ = ["NoFaq", "WebParts", "build_web_app"]
