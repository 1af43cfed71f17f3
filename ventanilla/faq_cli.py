"""`ventanilla faq ...`: try the FAQ matcher on a text, and validate the FAQ folder; no mail is sent."""

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tickets.faq.entries import FaqEntry, FaqProblem, load_faq
from tickets.faq.match import Suggestion
from tickets.ingest.rules import detect_language
from ventanilla.context import AppContext
from ventanilla.faq import build_index, faq_folder

app = typer.Typer(help="FAQ suggestions: rank entries for a text, validate the folder.", no_args_is_help=True)
WIDTH = 80
PathOption = Annotated[Path | None, typer.Option("--path", help="FAQ folder (default: [faq] path)")]


def _folder(app_ctx: AppContext, path: Path | None) -> Path:
    folder = path or faq_folder(app_ctx.settings)
    if folder is None:
        typer.echo("no FAQ folder: [faq] path is empty (or give --path)", err=True)
        raise typer.Exit(2)
    return folder


def _load(folder: Path) -> tuple[list[FaqEntry], list[FaqProblem]]:
    entries, problems = load_faq(folder)
    if not entries and len(problems) == 1 and problems[0].message == "not a folder":
        typer.echo(f"FAQ folder {folder} is not a folder", err=True)
        raise typer.Exit(2)
    return entries, problems


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _lines(ranked: list[Suggestion], chosen: set[str], min_score: float) -> list[str]:
    lines = [f"{'#':>2} {'score':>6}    {'entry':<24} title", "-" * WIDTH]
    for number, s in enumerate(ranked, start=1):
        mark = "*" if s.entry_id in chosen else " "
        lines.append(f"{number:>2} {s.score:>6.2f} {mark}  {_cut(s.entry_id, 24):<24} {_cut(s.title, WIDTH - 38)}")
        lines.append(f"{'':13}{_cut(s.url, WIDTH - 13)}")
    lines.append(f"* suggested (score >= {min_score:g}, at most the first's share set by [faq] relative)")
    return lines


@app.command()
def suggest(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="the mail's subject and text ('-' reads standard input)")],
    lang: Annotated[str | None, typer.Option("--lang", help="es or en (default: detected)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=50, help="entries to rank")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
    path: PathOption = None,
) -> None:
    """Rank the FAQ entries for a text, with scores; mark those an acknowledgement would carry."""
    app_ctx: AppContext = ctx.obj
    settings = app_ctx.settings
    if lang is not None and lang not in ("es", "en"):
        typer.echo(f"--lang must be es or en, not {lang!r}", err=True)
        raise typer.Exit(2)
    body = sys.stdin.read() if text == "-" else text
    language = lang or detect_language(body, settings.helpdesk.language)
    entries, problems = _load(_folder(app_ctx, path))
    for problem in problems:
        typer.echo(f"skipped {problem.line()}", err=True)
    index = build_index(settings, entries)
    ranked = index.rank(body, language, limit)
    chosen = {s.entry_id for s in index.suggest(body, language, settings.faq.max_suggestions)}
    if as_json:
        rows = [{**dataclasses.asdict(s), "suggested": s.entry_id in chosen} for s in ranked]
        out = {"lang": language, "min_score": settings.faq.min_score, "entries": len(entries), "ranked": rows}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not ranked:
        typer.echo(f"no {language} entry shares a word with the text ({len(entries)} entries): nothing to suggest")
        return
    typer.echo(f"{len(entries)} entries; text read as {language}; {len(chosen)} suggested")
    for line in _lines(ranked, chosen, settings.faq.min_score):
        typer.echo(line)


@app.command()
def check(ctx: typer.Context, path: PathOption = None) -> None:
    """Validate the FAQ folder: one line per file that does not parse (exit 1 if any)."""
    app_ctx: AppContext = ctx.obj
    folder = _folder(app_ctx, path)
    entries, problems = _load(folder)
    by_lang = {lang: sum(1 for e in entries if e.lang == lang) for lang in ("es", "en")}
    for problem in problems:
        typer.echo(problem.line())
    summary = f"{len(entries)} entries (es {by_lang['es']}, en {by_lang['en']}) in {folder}"
    if problems:
        typer.echo(f"{summary}; {len(problems)} file(s) do not parse and would be skipped", err=True)
        raise typer.Exit(1)
    if not entries:
        typer.echo(f"no entry in {folder}: no *.md file there", err=True)
        raise typer.Exit(1)
    typer.echo(summary)
