"""A call-centre log (CSV) read into calls, checked whole before anything is written. Pure.

Every bad row is reported by its line and column; the bytes are decoded by their BOM (UTF-8,
UTF-16), else as UTF-8, else as Windows-1252 or Latin-1 (and the caller says so).
"""

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from tickets.ingest.rules import is_own_address
from tickets.phone.calls import CallError, CallRecord, validate

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
REQUIRED = ("started_at", "outcome")
MAX_SECONDS = 7 * 24 * 3600  # a wait or a call longer than a week is a typo
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RowError:
    """What is wrong with one row: `column: problem` (the column first when there is one)."""

    line: int
    problem: str


def _show(value: str) -> str:
    return repr(value if len(value) <= 24 else value[:21] + "...")


def decode_log(data: bytes) -> tuple[str, str]:
    """(text, note): the note says which fallback encoding was used ("" for UTF-8 or a BOM)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), ""
            except UnicodeDecodeError as exc:
                name = codec.upper().removesuffix("-SIG")
                raise CallError(f"has a {name} mark but is not {name} (byte {exc.start})") from None
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "not UTF-8: read as Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "not UTF-8: read as Latin-1"


def _seconds(row: Mapping[str, str | None], name: str) -> int:
    text = (row.get(name) or "0").strip() or "0"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise CallError(f"{name}: {_show(text)} is not 0 to {MAX_SECONDS} seconds")
    return int(value)


def parse_row(row: Mapping[str, str | None]) -> CallRecord:
    """One CSV row (columns CSV_COLUMNS) as a validated call; CallError says what is wrong."""
    for column in REQUIRED:
        if not (row.get(column) or "").strip():
            raise CallError(f"{column}: missing")
    text = (row.get("started_at") or "").strip()
    try:
        started = datetime.fromisoformat(text)
    except ValueError:
        raise CallError(f"started_at: {_show(text)} is not an ISO date-time") from None
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


def _row(row: Mapping[str, str | None], own: Iterable[str]) -> CallRecord:
    call = parse_row(row)
    if is_own_address(call.caller_email, own):
        raise CallError(f"caller_email: {_show(call.caller_email)} is one of our own addresses")
    return call


def _rows(lines: Iterable[str], own: Iterable[str]) -> Iterator[tuple[int, CallRecord | RowError]]:
    reader = csv.DictReader(lines)
    try:
        absent = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise CallError(f"line 1 is not CSV ({exc})") from None
    if absent:
        raise CallError(f"the header (line 1) has no {', '.join(absent)} column")
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                yield line, RowError(line=line, problem="more fields than the header has columns")
                continue
            try:
                yield line, _row(row, own)
            except CallError as exc:
                yield line, RowError(line=line, problem=str(exc))
    except csv.Error as exc:  # e.g. a field over csv's size limit: the rest cannot be read
        line = reader.line_num + 1
        yield line, RowError(line=line, problem=f"not CSV ({exc}); the rest was not read")


def read_log(
    text: str, own_addresses: Iterable[str] = ()
) -> tuple[list[tuple[int, CallRecord]], list[RowError]]:
    """Every row's call, or what is wrong with it; CallError when the file is no call log at all."""
    calls: list[tuple[int, CallRecord]] = []
    errors: list[RowError] = []
    for line, item in _rows(text.splitlines(keepends=True), tuple(own_addresses)):
        if isinstance(item, RowError):
            errors.append(item)
        else:
            calls.append((line, item))
    return calls, errors
