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
