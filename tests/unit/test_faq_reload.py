"""The worker's FAQ (`LiveFaq`): reloaded whole, or kept whole when a file does not parse; and
SIGHUP's one line saying what was reloaded."""

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from config.faq import FaqSettings
from tests.webhelpers import FAQ_ENTRIES, write_faq
from ventanilla.faq import LiveFaq
from ventanilla.signals import reload_on_hangup

EXPORT = "¿Cómo exporto mi certificado a otro navegador? Necesito una copia."


def _live(make_settings, tmp_path: Path, folder: Path | str) -> LiveFaq:  # type: ignore[no-untyped-def]
    settings = make_settings(db_url=f"sqlite:///{tmp_path}/v.db", faq=FaqSettings(path=str(folder)))
    return LiveFaq(settings)


def _urls(faq: LiveFaq, text: str) -> list[str]:
    return [s.url for s in faq.suggest(text, "es")]


def test_a_reload_takes_new_entries_and_the_policy_follows(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write_faq(tmp_path / "faq", {"renovar": FAQ_ENTRIES["renovar"]})
    faq = _live(make_settings, tmp_path, folder)
    policy = faq.policy()
    assert policy is not None and faq.count == 1 and _urls(faq, EXPORT) == []
    write_faq(folder, {"exportar": FAQ_ENTRIES["exportar"]})
    assert faq.reload() == "FAQ reloaded: 2 entries"
    assert [s.url for s in policy.index.suggest(EXPORT, "es")] == ["https://ventanilla.example/faq/exportar"]
    (folder / "exportar.md").unlink()
    assert faq.reload() == "FAQ reloaded: 1 entry" and _urls(faq, EXPORT) == []


def test_a_bad_file_keeps_every_entry_in_use_and_names_it(make_settings, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    folder = write_faq(tmp_path / "faq", {k: FAQ_ENTRIES[k] for k in ("renovar", "exportar")})
    faq = _live(make_settings, tmp_path, folder)
    (folder / "exportar.md").write_text("+++\ntitle = 'x'\n", encoding="utf-8")  # being edited
    (folder / "otro.md").write_text("no front matter\n", encoding="utf-8")
    caplog.clear()  # what loading said (at whatever level an earlier test left logging)
    with caplog.at_level(logging.ERROR):
        assert faq.reload() == "FAQ kept: 2 entries"
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == (
        f"FAQ not reloaded, the 2 entries in use stay: {folder / 'exportar.md'}: front matter not closed: "
        "no second '+++' line (and 1 more)"
    )
    assert _urls(faq, EXPORT) == ["https://ventanilla.example/faq/exportar"]
    folder.rename(tmp_path / "gone")
    assert faq.reload() == "FAQ kept: 2 entries"


def test_no_faq_path_is_off(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    faq = _live(make_settings, tmp_path, "")
    assert faq.policy() is None and faq.suggest(EXPORT, "es") == [] and faq.reload() == "FAQ off"


@pytest.mark.timeout(10)
def test_sighup_says_in_one_line_what_each_reload_did(caplog) -> None:  # type: ignore[no-untyped-def]
    def broken() -> str:
        raise OSError("disk gone")

    async def main() -> None:
        async def in_thread() -> str:
            return await asyncio.to_thread(lambda: "FAQ reloaded: 3 entries")

        with reload_on_hangup(lambda: "templates reloaded", broken, in_thread):
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(200):
                await asyncio.sleep(0.01)
                if any("SIGHUP:" in r.getMessage() for r in caplog.records):
                    break

    before = signal.getsignal(signal.SIGHUP)
    try:
        with caplog.at_level(logging.INFO, logger="ventanilla.signals"):
            asyncio.run(main())
    finally:
        signal.signal(signal.SIGHUP, before)  # reload_on_hangup leaves it ignored
    lines = [r.getMessage() for r in caplog.records if "SIGHUP:" in r.getMessage()]
    assert lines == [
        "SIGHUP: templates reloaded; test_sighup_says_in_one_line_what_each_reload_did.<locals>.broken failed; "
        "FAQ reloaded: 3 entries"
    ]
