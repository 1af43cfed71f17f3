"""Issue 12 item 18: a call log's bytes and rows, checked whole; every problem named by line and column."""

import pytest

from tickets.phone.calls import CallError
from tickets.phone.log_csv import MAX_SECONDS, decode_log, parse_row, read_log
from tickets.report.figures import ReportError, month_bounds

HEADER = "started_at,line,outcome,wait_seconds,duration_seconds,caller_phone,caller_email,agent,summary\n"
ROW = "2013-10-01T09:00:00+02:00,general,answered,30,200,+34 600 1,josé@correo.example,ana,Renovación hecha\n"
TEXT = HEADER + ROW


@pytest.mark.parametrize(
    ("data", "note"),
    [
        (TEXT.encode("utf-8"), ""),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), ""),
        (TEXT.encode("utf-16"), ""),  # with its BOM (little-endian here)
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), ""),
        (TEXT.encode("cp1252"), "not UTF-8: read as Windows-1252"),
        (TEXT.replace("hecha", "hecha \x81").encode("latin-1"), "not UTF-8: read as Latin-1"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "cp1252", "latin-1"],
)
def test_decode_log(data: bytes, note: str) -> None:
    text, said = decode_log(data)
    assert said == note and "Renovación hecha" in text and "josé@" in text
    ((_, call),) = read_log(text)[0]
    assert call.summary.startswith("Renovación hecha")


def test_a_broken_utf16_file_is_named_not_a_crash() -> None:
    with pytest.raises(CallError, match="UTF-16"):
        decode_log(b"\xff\xfe" + TEXT.encode("utf-16-le")[:-1])


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("wait_seconds", "1e400", "wait_seconds: '1e400' is not 0 to 604800 seconds"),
        ("duration_seconds", "inf", "duration_seconds: 'inf'"),
        ("wait_seconds", "nan", "wait_seconds: 'nan'"),
        ("wait_seconds", "-5", "wait_seconds: '-5'"),
        ("duration_seconds", str(MAX_SECONDS + 1), "duration_seconds:"),
        ("wait_seconds", "9" * 40, "wait_seconds: '99999"),
        ("started_at", "0001-01-01T00:00:00+05:00", "started_at: 0001-01-01T00:00:00+05:00 is out of range"),
        ("started_at", "", "started_at: missing"),
        ("outcome", "", "outcome: missing"),
    ],
)
def test_bad_fields_name_their_column(field: str, value: str, says: str) -> None:
    row = {"started_at": "2013-10-01T09:00:00+02:00", "outcome": "lost", field: value}
    with pytest.raises(CallError) as caught:
        parse_row(row)
    assert str(caught.value).startswith(says) and len(str(caught.value)) < 80


def test_read_log_reports_every_bad_row_and_unreadable_csv() -> None:
    bad = ROW.replace(",30,", ",1e400,")
    huge = ROW.replace("Renovación hecha", "x" * 200_000)
    calls, errors = read_log(HEADER + ROW + bad + ROW.replace("answered", "ringing") + ROW + huge + ROW)
    assert [line for line, _ in calls] == [2, 5]
    assert [(e.line, e.problem.split(":")[0][:12]) for e in errors] == [
        (3, "wait_seconds"), (4, "outcome"), (6, "not CSV (fie")
    ]
    assert errors[2].problem.startswith("not CSV (field larger than field limit")
    with pytest.raises(CallError, match="no outcome column"):
        read_log("started_at,line\n2013-10-01T09:00:00Z,general\n")


def test_a_caller_at_our_own_address_is_a_bad_row() -> None:
    own = ROW.replace("josé@correo.example", "Soporte+Phone@ventanilla.example")
    _, errors = read_log(HEADER + own, ("soporte@ventanilla.example",))
    assert errors[0].problem.startswith("caller_email:") and "own addresses" in errors[0].problem


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_months_out_of_range_are_a_report_error(month: str) -> None:
    with pytest.raises(ReportError, match="out of range"):
        month_bounds(month, "Europe/Madrid")
    with pytest.raises(ReportError, match="out of range"):
        month_bounds(month, "Asia/Tokyo")
