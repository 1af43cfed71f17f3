"""FAQ entries: one Markdown file per entry, TOML front matter between `+++` lines. Reads files only.

    +++
    title = "How do I renew my certificate?"
    url = "https://example.org/faq/renew"
    lang = "en"
    keywords = ["renew", "expire"]
    +++
    The answer, in Markdown.

The entry's id is the file's stem. A file that does not parse is a `FaqProblem` (one line that
names what is wrong) and is skipped; the others load.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

LANGS = ("es", "en")
_FENCE = "+++"


@dataclass(frozen=True)  # the interface the web form relies on (no slots: vars() works)
class FaqEntry:
    id: str
    title: str
    url: str
    lang: str
    keywords: tuple[str, ...]
    body: str


@dataclass(frozen=True)  # the interface the web form relies on (no slots: vars() works)
class FaqProblem:
    path: str
    message: str

    def line(self) -> str:
        """`path: message`, for a person."""
        return f"{self.path}: {self.message}"


class FaqFormatError(ValueError):
    """The file is not a valid FAQ entry."""


def load_faq(path: Path) -> tuple[list[FaqEntry], list[FaqProblem]]:
    """Every `*.md` file under `path` (sorted by name): the entries that parse, and a problem for
    each that does not. A missing folder is one problem."""
    if not path.is_dir():
        return [], [FaqProblem(path=str(path), message="not a folder")]
    entries: list[FaqEntry] = []
    problems: list[FaqProblem] = []
    seen: dict[str, str] = {}
    for file in sorted(path.rglob("*.md")):
        try:
            entry = parse_entry(file.stem, file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, FaqFormatError) as exc:
            problems.append(FaqProblem(path=str(file), message=_one_line(exc)))
            continue
        if entry.id in seen:
            problems.append(FaqProblem(path=str(file), message=f"id {entry.id!r} already used by {seen[entry.id]}"))
            continue
        seen[entry.id] = str(file)
        entries.append(entry)
    return entries, problems


def parse_entry(entry_id: str, text: str) -> FaqEntry:
    """One entry from its file's text; FaqFormatError names what is wrong."""
    front, body = _split(text.lstrip("\ufeff"))
    try:
        meta = tomllib.loads(front)
    except tomllib.TOMLDecodeError as exc:
        raise FaqFormatError(f"front matter is not valid TOML ({exc})") from None
    unknown = sorted(set(meta) - {"title", "url", "lang", "keywords"})
    if unknown:
        raise FaqFormatError(f"unknown key {unknown[0]!r} in the front matter")
    title, url, lang = (_required_text(meta, key) for key in ("title", "url", "lang"))
    if lang not in LANGS:
        raise FaqFormatError(f"lang must be 'es' or 'en', not {lang!r}")
    if not url.startswith(("https://", "http://")):
        raise FaqFormatError(f"url must start with https:// or http://, not {url[:40]!r}")
    keywords = meta.get("keywords", [])
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise FaqFormatError("keywords must be a list of strings")
    return FaqEntry(
        id=entry_id, title=title, url=url, lang=lang, keywords=tuple(k.strip() for k in keywords), body=body.strip()
    )


def _split(text: str) -> tuple[str, str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise FaqFormatError("no front matter: the file must start with a '+++' line")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == _FENCE:
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    raise FaqFormatError("front matter not closed: no second '+++' line")


def _required_text(meta: dict[str, object], key: str) -> str:
    value = meta.get(key)
    if value is None:
        raise FaqFormatError(f"{key} is missing")
    if not isinstance(value, str) or not value.strip():
        raise FaqFormatError(f"{key} must be a non-empty string")
    if "\n" in value or "\r" in value:
        raise FaqFormatError(f"{key} must be one line")
    return value.strip()


def _one_line(exc: Exception) -> str:
    text = str(exc) if isinstance(exc, FaqFormatError) else f"cannot read it ({type(exc).__name__}: {exc})"
    return " ".join(text.split())
