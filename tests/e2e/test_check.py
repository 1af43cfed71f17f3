"""`ventanilla check`: effective settings with secrets hidden, and a real try of each server."""

import json

from tests.e2e.conftest import imap_section, ventanilla, write_config


def _config(tmp_path, inbox, outbound):  # type: ignore[no-untyped-def]
    return write_config(
        tmp_path / "v.toml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'v.db'}"},
            "inbox": inbox,
            "outbound": outbound,
            "helpdesk": {"secret": "do-not-print-this-secret-0123456789"},
        },
    )


def test_check_passes_against_real_servers_and_hides_secrets(tmp_path, dovecot, smtp_sink) -> None:
    outbound = {"kind": "smtp", "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"}
    config = _config(tmp_path, imap_section(dovecot), outbound)
    assert ventanilla("-c", config, "init", cwd=tmp_path).returncode == 0
    result = ventanilla("-c", config, "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    settings = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert settings["helpdesk"]["secret"] == "********" and settings["inbox"]["password"] == "********"
    assert "do-not-print-this-secret" not in result.stdout + result.stderr
    assert dovecot.password not in result.stdout + result.stderr
    assert "ok   inbox: imap" in result.stdout and "ok   outbound: smtp" in result.stdout


def test_check_fails_and_names_what_is_unreachable(tmp_path, dovecot) -> None:
    inbox = imap_section(dovecot, port=1)
    outbound = {"kind": "smtp", "host": "127.0.0.1", "port": 1, "security": "none"}
    result = ventanilla("-c", _config(tmp_path, inbox, outbound), "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "ok   database" in result.stdout
    assert "fail inbox" in result.stdout and "fail outbound" in result.stdout


def test_check_says_how_much_room_the_spool_has_and_fails_when_it_is_short(tmp_path) -> None:
    """A12: a disk about to fill is a problem `check` names before the spool stops taking mail."""
    inbox = {"kind": "maildir", "path": str(tmp_path / "maildir")}
    outbound = {"kind": "file", "path": str(tmp_path / "sent")}
    config = _config(tmp_path, inbox, outbound)
    assert ventanilla("-c", config, "init", cwd=tmp_path).returncode == 0
    fine = ventanilla("-c", config, "check", cwd=tmp_path)
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "ok   disk: " in fine.stdout and "free for database, inbox, outbox" in fine.stdout

    text = config.read_text(encoding="utf-8") + "\n[limits]\nmax_message_bytes = 100_000_000_000_000\n"
    config.write_text(text, encoding="utf-8")  # room for ten of those: nowhere
    short = ventanilla("-c", config, "check", cwd=tmp_path)
    assert short.returncode == 1
    said = " ".join(short.stdout[short.stdout.index("fail disk") :].split())  # wrapped at 80 columns
    assert "free for database, inbox, outbox" in said and "under" in said and "limits.max_message_bytes" in said
