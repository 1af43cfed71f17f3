"""`ventanilla faq suggest|check` and the FAQ lines of `ventanilla check`, as a person runs them."""

import json
import shutil
from pathlib import Path

from tests.e2e.conftest import ventanilla, write_config

ENTRIES = Path(__file__).resolve().parent.parent / "data" / "faq" / "entries"
BAD = '+++\ntitle = "Sin url"\nlang = "es"\n+++\nTexto.\n'


def _faq(tmp_path: Path, *, bad: bool = False) -> Path:
    folder = tmp_path / "faq"
    shutil.copytree(ENTRIES, folder)
    if bad:
        (folder / "roto.md").write_text(BAD, encoding="utf-8")
        (folder / "sin-cabecera.md").write_text("Solo texto\n", encoding="utf-8")
    return folder


def _config(tmp_path: Path, faq: Path | str) -> Path:
    return write_config(
        tmp_path / "v.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'v.db'}"},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
            "outbound": {"kind": "file", "path": str(tmp_path / "out")},
            "helpdesk": {"secret": "faq-cli-secret-0123456789abcdefghij"},
            "faq": {"path": str(faq)},
        },
    )


def test_suggest_ranks_entries_with_scores_in_80_columns(tmp_path: Path) -> None:
    config = _config(tmp_path, _faq(tmp_path))
    text = "Hola, olvidé la contraseña del archivo pfx y no puedo importarlo en el portátil nuevo"
    result = ventanilla("-c", config, "faq", "suggest", text, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("30 entries; text read as es;")
    first = next(line for line in lines if line.startswith(" 1 "))
    assert "es-contrasena-pfx" in first and "*" in first
    assert max(len(line) for line in lines) <= 80


def test_suggest_json_and_language(tmp_path: Path) -> None:
    config = _config(tmp_path, _faq(tmp_path))
    result = ventanilla(
        "-c", config, "faq", "suggest", "certificado expired renew", "--lang", "en", "--json", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["lang"] == "en" and data["ranked"][0]["entry_id"] == "en-renew"
    assert set(data["ranked"][0]) == {"entry_id", "title", "url", "score", "suggested"}
    scores = [row["score"] for row in data["ranked"]]
    assert scores == sorted(scores, reverse=True)


def test_suggest_says_when_nothing_matches_and_refuses_bad_input(tmp_path: Path) -> None:
    config = _config(tmp_path, _faq(tmp_path))
    nothing = ventanilla("-c", config, "faq", "suggest", "zzz qqq", cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to suggest" in nothing.stdout
    bad_lang = ventanilla("-c", config, "faq", "suggest", "hola", "--lang", "fr", cwd=tmp_path)
    assert bad_lang.returncode == 2 and "--lang must be es or en" in bad_lang.stderr
    off = ventanilla("-c", _config(tmp_path, ""), "faq", "suggest", "hola", cwd=tmp_path)
    assert off.returncode == 2 and off.stderr.strip() == "no FAQ folder: [faq] path is empty (or give --path)"
    assert "Traceback" not in bad_lang.stderr + off.stderr


def test_check_passes_a_good_folder_and_names_each_bad_file(tmp_path: Path) -> None:
    good = ventanilla("-c", _config(tmp_path, _faq(tmp_path)), "faq", "check", cwd=tmp_path)
    assert good.returncode == 0 and good.stdout.strip().startswith("30 entries (es 18, en 12)")
    bad_folder = tmp_path / "other"
    shutil.copytree(_faq(tmp_path / "b", bad=True), bad_folder)
    bad = ventanilla("-c", _config(tmp_path, bad_folder), "faq", "check", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"{bad_folder / 'roto.md'}: url is missing",
        f"{bad_folder / 'sin-cabecera.md'}: no front matter: the file must start with a '+++' line",
    ]
    assert "2 file(s) do not parse" in bad.stderr
    (tmp_path / "empty").mkdir()
    empty = ventanilla("-c", _config(tmp_path, tmp_path / "empty"), "faq", "check", cwd=tmp_path)
    assert empty.returncode == 1 and "no entry in" in empty.stderr


def test_ventanilla_check_reports_bad_faq_files_one_line_each(tmp_path: Path) -> None:
    folder = _faq(tmp_path, bad=True)
    result = ventanilla("-c", _config(tmp_path, folder), "check", cwd=tmp_path)
    assert "ok   faq: 30 entries" in result.stdout
    warned = [line for line in result.stdout.splitlines() if line.startswith("warn faq:")]
    assert len(warned) == 2 and "roto.md: url is missing" in warned[0]
    missing = ventanilla("-c", _config(tmp_path, tmp_path / "nowhere"), "check", cwd=tmp_path)
    assert missing.returncode == 1 and "fail faq:" in missing.stdout


def test_the_worker_skips_bad_faq_files_and_suggests_from_the_rest(tmp_path: Path) -> None:
    from email import message_from_bytes, policy

    from mailer.maildir import deliver_to_maildir

    config = _config(tmp_path, _faq(tmp_path, bad=True))
    raw = (
        "From: Maria <maria@correo.example>\r\nTo: soporte@ventanilla.example\r\n"
        "Subject: =?utf-8?q?Renovaci=C3=B3n?=\r\nMessage-ID: <faq-e2e@correo.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Hola, mi certificado caduca pronto, ¿cómo lo renuevo?\r\n"
    ).encode()
    deliver_to_maildir(tmp_path / "maildir", raw)
    result = ventanilla("-c", config, "run", "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    skipped = [line for line in result.stderr.splitlines() if "FAQ file skipped" in line]
    assert len(skipped) == 2, result.stderr[-2000:]
    sent = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (tmp_path / "out").glob("*.eml")]
    (ack,) = [m for m in sent if m["Auto-Submitted"] == "auto-replied"]
    text = ack.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Quizá le ayude:" in text and "https://ayuda.ca-ejemplo.es/faq/renovar" in text
