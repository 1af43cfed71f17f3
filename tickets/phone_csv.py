"""The call-centre export: one call per CSV row (columns CSV_COLUMNS), validated as a CallRecord."""

import csv
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from tickets.phone import CallError, CallRecord, validate

CSV_COLUMNS = (
    "started_at",
    "line",
    "outcome",
    "wait_seconds",
    "duration_seconds",
    "caller_phone",
    "caller_email",
    "agent",
    "summary",
)


def parse_row(row: Mapping[str, str | None]) -> CallRecord:
    """One CSV row (columns CSV_COLUMNS) as a validated call; CallError says what is wrong."""
    missing = [c for c in ("started_at", "outcome") if not (row.get(c) or "").strip()]
    if missing:
        raise CallError(f"missing {', '.join(missing)}")
    try:
        started = datetime.fromisoformat((row.get("started_at") or "").strip())
    except ValueError:
        raise CallError(f"started_at: {row.get('started_at')!r} is not an ISO date-time") from None
    return validate(
        CallRecord(
            started_at=started,
            line=(row.get("line") or "general").strip().lower() or "general",
            outcome=(row.get("outcome") or "").strip().lower(),
            wait_seconds=_seconds(row, "wait_seconds"),
            duration_seconds=_seconds(row, "duration_seconds"),
            caller_phone=row.get("caller_phone") or "",
            caller_email=row.get("caller_email") or "",
            agent=row.get("agent") or "",
            summary=(row.get("summary") or "").strip(),
        )
    )


def _seconds(row: Mapping[str, str | None], name: str) -> int:
    text = (row.get(name) or "0").strip() or "0"
    try:
        return int(float(text))
    except ValueError:
        raise CallError(f"{name}: {text!r} is not a number") from None


def read_csv(lines: Iterable[str]) -> Iterator[tuple[int, CallRecord | CallError]]:
    """(line number, call or the error of that row) for each data row of a call log."""
    reader = csv.DictReader(lines)
    absent = [c for c in ("started_at", "outcome") if c not in (reader.fieldnames or [])]
    if absent:
        raise CallError(f"the header has no {', '.join(absent)} column")
    for row in reader:
        line_no = reader.line_num
        if None in row:
            yield line_no, CallError("more fields than columns")
            continue
        try:
            yield line_no, parse_row(row)
        except CallError as exc:
            yield line_no, exc
