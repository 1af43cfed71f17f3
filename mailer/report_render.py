"""The monthly report as text, JSON, CSV or HTML (text and HTML come from templates/<lang>/report.*).

The HTML is made for mail clients: inline styles, tables and coloured spans as bars; no
script, no external image, no stylesheet.
"""

import csv
import io
import json
from typing import Any

from mailer.templating import TemplateRenderer
from tickets.report.figures import MonthlyReport, display

FORMATS = ("text", "json", "csv", "html")
LABELS = {
    "es": {
        "emails_received": "Correos recibidos",
        "answers": "Correos contestados o gestionados",
        "escalated": "Escalados",
        "other_actions": "Otras actuaciones",
        "escalated_waiting": "Escalados pendientes de respuesta",
        "under_24h": "Contestados en menos de 24 h",
        "under_48h": "Contestados en menos de 48 h",
        "over_48h": "Contestados en más de 48 h",
        "attended": "Llamadas atendidas",
        "lost": "Llamadas perdidas",
        "abandoned": "Llamadas abandonadas",
        "quiet_windows": "Horas más tranquilas para llamar",
        "peak_wait_seconds": "Espera media en hora punta (s)",
        "category": "Categoría",
    },
    "en": {
        "emails_received": "Emails received",
        "answers": "Emails answered or handled",
        "escalated": "Escalated",
        "other_actions": "Other actions taken",
        "escalated_waiting": "Escalated and still awaiting an answer",
        "under_24h": "Answered in under 24 h",
        "under_48h": "Answered in under 48 h",
        "over_48h": "Answered after more than 48 h",
        "attended": "Phone calls attended",
        "lost": "Phone calls lost",
        "abandoned": "Phone calls abandoned",
        "quiet_windows": "Quietest hours to call",
        "peak_wait_seconds": "Average wait at peak (s)",
        "category": "Category",
    },
}
SHARES = ("escalated", "other_actions", "escalated_waiting", "under_24h", "under_48h", "over_48h")
CALLS = ("attended", "lost", "abandoned")


class ReportFormatError(ValueError):
    """The asked format or language is not one we render."""


def render(
    report: MonthlyReport,
    fmt: str,
    language: str,
    *,
    renderer: TemplateRenderer | None = None,
    helpdesk: dict[str, str] | None = None,
) -> str:
    """The report in `fmt` (text|json|csv|html) and `language` (es|en)."""
    if fmt not in FORMATS:
        raise ReportFormatError(f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
    if language not in LABELS:
        raise ReportFormatError(f"unknown language {language!r} (use {', '.join(LABELS)})")
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return to_csv(report, language)
    rendered = (renderer or TemplateRenderer()).render("report", language, template_context(report, language, helpdesk))
    return rendered.text if fmt == "text" else rendered.html


def template_context(
    report: MonthlyReport, language: str, helpdesk: dict[str, str] | None = None
) -> dict[str, object]:
    """What templates/<lang>/report.* need."""
    return {
        "report": display(report, language),
        "helpdesk": helpdesk or {"name": "Ventanilla", "address": ""},
    }


def to_csv(report: MonthlyReport, language: str) -> str:
    """One row per figure: figure, label, count, percent (a dot decimal separator), text."""
    labels = LABELS[language]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "label", "count", "percent", "text"])
    writer.writerow(["emails_received", labels["emails_received"], report.emails_received, "", ""])
    writer.writerow(["answers", labels["answers"], report.answers, f"{report.answered_ratio_pct:.2f}", ""])
    for name in (*SHARES, *CALLS):
        value: Any = getattr(report, name)
        writer.writerow([name, labels[name], value.count, f"{value.pct:.2f}", ""])
    writer.writerow(["quiet_windows", labels["quiet_windows"], "", "", " ".join(report.quiet_windows)])
    writer.writerow(["peak_wait_seconds", labels["peak_wait_seconds"], "", "", f"{report.peak_wait_seconds:.1f}"])
    for name, count in report.categories:
        writer.writerow([f"category:{name}", f"{labels['category']}: {name}", count, "", ""])
    return out.getvalue()
