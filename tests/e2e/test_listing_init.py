"""The CLI as an operator meets it first (issue 13): before `init` every listing says to run it,
in one line; `check` names an uninitialised database and a template that does not render;
`--version`. Real subprocesses, SQLite and PostgreSQL."""

from pathlib import Path

from tests.e2e.conftest import ventanilla, write_config


def _config(tmp_path: Path, db_url: str) -> Path:
    return write_config(
        tmp_path / "ventanilla.toml",
        {
            "database": {"url": db_url},
            "inbox": {"kind": "maildir", "path": str(tmp_path / "maildir")},
            "outbound": {"kind": "file", "path": str(tmp_path / "sent")},
        },
    )


def test_before_init_every_listing_says_to_run_init(any_db_url, tmp_path) -> None:
    config = _config(tmp_path, any_db_url)
    for command in (("tickets", "list"), ("tickets", "show", "1"), ("outbox", "list"), ("sla", "status")):
        result = ventanilla("--config", config, *command, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and "run `ventanilla init`" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    checked = ventanilla("--config", config, "check", cwd=tmp_path)
    assert checked.returncode == 1 and "fail schema: the database" in checked.stdout, checked.stdout


def test_check_names_a_template_that_does_not_render(tmp_path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path}/v.db")
    overrides = tmp_path / "our-templates" / "es"
    overrides.mkdir(parents=True)
    (overrides / "ack.txt").write_text("Hola {{ requester.nombre }}\n", encoding="utf-8")
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f'[templates]\npath = "{tmp_path / "our-templates"}"\n')
    assert ventanilla("--config", config, "init", cwd=tmp_path).returncode == 0
    checked = ventanilla("--config", config, "check", cwd=tmp_path)
    assert checked.returncode == 1
    assert "ok   schema" in checked.stdout and "fail templates: 1 do not render: es/ack" in checked.stdout
    assert "nombre" in checked.stdout


def test_version(tmp_path) -> None:
    result = ventanilla("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("ventanilla 0.")
