"""Issue 12 item 18: bad input to `phone import` and `report` gets one line naming what is wrong
(file, line, column), exit 2, nothing written, never a traceback; Latin-1/UTF-16 logs import."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.e2e.conftest import ventanilla, write_config
from tickets.db import make_engine, read_only
from tickets.phone.models import Call

HEADER = "started_at,line,outcome,wait_seconds,duration_seconds,caller_phone,caller_email,agent,summary\n"
ROWS = [
    "2013-10-01T09:00:00+02:00,general,answered,30,200,+34 600 1,josé@correo.example,ana,Renovación hecha\n",
    "2013-10-01T09:05:00+02:00,general,lost,10,0,+34 600 2,,,\n",
]


@pytest.fixture
def desk(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path}/v.db"
    config = write_config(
        tmp_path / "v.toml",
        {
            "database": {"url": url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )
    assert ventanilla("-c", config, "init", cwd=tmp_path).returncode == 0
    return config, url


def calls_in(url: str) -> int:
    engine = make_engine(url)
    try:
        with read_only(engine) as session:
            return int(session.scalar(select(func.count()).select_from(Call)) or 0)
    finally:
        engine.dispose()


def no_traceback(result) -> None:  # type: ignore[no-untyped-def]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_huge_number_is_named_and_nothing_is_written(desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, url = desk
    log = tmp_path / "calls.csv"
    log.write_text(HEADER + ROWS[0] + ROWS[1].replace(",10,", ",1e400,"), encoding="utf-8")
    result = ventanilla("-c", config, "phone", "import", log, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2
    assert "calls.csv line 3: wait_seconds: '1e400' is not 0 to 604800 seconds" in result.stderr
    assert "nothing imported: 1 bad rows" in result.stderr and calls_in(url) == 0
    assert all(len(line) <= 80 for line in result.stderr.splitlines())


@pytest.mark.parametrize(
    ("encoding", "note"),
    [("latin-1", "calls.csv: not UTF-8: read as Windows-1252"), ("utf-16", ""), ("utf-8-sig", "")],
)
def test_latin1_and_utf16_logs_are_imported(desk, tmp_path: Path, encoding: str, note: str) -> None:  # type: ignore[no-untyped-def]
    config, url = desk
    log = tmp_path / "calls.csv"
    log.write_bytes((HEADER + "".join(ROWS)).encode(encoding))
    result = ventanilla("-c", config, "phone", "import", log, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "2 recorded" in result.stderr and calls_in(url) == 2
    assert (note in result.stderr) if note else ("read as" not in result.stderr)


def test_an_unreadable_file_is_one_line(desk, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config, _ = desk
    missing = ventanilla("-c", config, "phone", "import", tmp_path / "nope.csv", cwd=tmp_path)
    no_traceback(missing)
    assert missing.returncode == 2 and "cannot import" in missing.stderr and "nope.csv" in missing.stderr
    (tmp_path / "x.csv").write_text("caller,phone\n1,2\n")
    wrong = ventanilla("-c", config, "phone", "import", tmp_path / "x.csv", cwd=tmp_path)
    assert wrong.returncode == 2 and "has no started_at, outcome column" in wrong.stderr


@pytest.mark.parametrize("month", ["0000-01", "9999-12"])
def test_report_months_out_of_range(desk, tmp_path: Path, month: str) -> None:  # type: ignore[no-untyped-def]
    config, _ = desk
    result = ventanilla("-c", config, "report", "--month", month, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and f"no report: month '{month}' is out of range" in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1
