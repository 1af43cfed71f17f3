"""What the CLI's listings share: tables that keep one row per line at the terminal's width
(long cells end in an ellipsis, the least useful columns go first), the 'N of M shown' line,
times in the service's zone, and bad input said in one line (exit 2)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

errors = Console(stderr=True, soft_wrap=True)  # one line each, however long


@dataclass(frozen=True, slots=True)
class Column:
    """A column: the width it needs, and when it goes (highest `drop` first) when room is short."""

    header: str
    width: int
    drop: int = 0  # 0 = never dropped
    justify: str = "left"
    flexible: bool = False  # takes the room left over, cut with an ellipsis
    max_width: int | None = None


def fit(columns: Sequence[Column], width: int) -> list[int]:
    """The indexes of the columns that fit in `width` (a bordered table: 3 per column plus 1)."""
    kept = list(range(len(columns)))

    def needed() -> int:
        return sum(columns[i].width for i in kept) + 3 * len(kept) + 1

    while needed() > width:
        droppable = [i for i in kept if columns[i].drop]
        if not droppable:
            break
        kept.remove(max(droppable, key=lambda i: columns[i].drop))
    return kept


def fitted_table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    styles: Sequence[str | None] | None = None,
) -> Table:
    """A table of these rows (plain text, never markup) that keeps one row per line at `width`."""
    kept = fit(columns, width)
    table = Table(title=escape(title), expand=True, box=box.SQUARE)
    for i in kept:
        c = columns[i]
        table.add_column(
            c.header,
            justify=c.justify,  # type: ignore[arg-type]
            no_wrap=True,
            overflow="ellipsis",
            min_width=c.width,
            max_width=None if c.flexible else (c.max_width or c.width),
            ratio=1 if c.flexible else None,
        )
    for n, row in enumerate(rows):
        style = styles[n] if styles else None
        table.add_row(*(Text(row[i]) for i in kept), style=style)
    return table


def shown_line(shown: int, total: int) -> str:
    """'50 of 2,000 shown (--limit 0 for all)': a listing never stops short without saying so."""
    return f"{shown:,} of {total:,} shown" + (" (--limit 0 for all)" if shown < total else "")


def short_time(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """'10-05 09:00' this year, '2025-12-30' another year: 11 columns at most, in the zone."""
    local = moment.astimezone(zone)
    return f"{local:%m-%d %H:%M}" if local.year == now.astimezone(zone).year else f"{local:%Y-%m-%d}"


def long_time(moment: datetime | None, zone: ZoneInfo) -> str:
    """'2026-10-05 09:00 CEST', or '-'."""
    return "-" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def bad_input(message: str) -> typer.Exit:
    """Say what is wrong in one line; the caller raises the Exit(2) this returns."""
    errors.print(message, markup=False, highlight=False)
    return typer.Exit(2)


def parse_when(value: str | None, name: str, zone: ZoneInfo, *, end: bool = False) -> datetime | None:
    """An ISO 8601 date or time; without an offset it is in the service's zone. A date alone is
    its midnight, or with `end` the next midnight (`--until 2026-10-31` includes the 31st)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(0))
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        example = "e.g. 2026-10-05 or 2026-10-05T09:00"
        raise bad_input(f"{name}: {value!r} is not an ISO 8601 date or time ({example})") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def one_of(value: str | None, name: str, valid: Sequence[str]) -> str:
    """The value when valid (or ""); else one line listing the valid ones, exit 2."""
    if value is None or value == "":
        return ""
    if value not in valid:
        raise bad_input(f"unknown {name} {value!r}; one of: {', '.join(valid)}")
    return value
