"""Settings: the embedded default, the example file, one-line errors, environment overrides."""

import re
import tomllib
from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).parents[2]


def test_example_toml_uncommented_lists_every_key_with_its_default() -> None:
    lines = (ROOT / "config" / "example.toml").read_text(encoding="utf-8").splitlines()
    live = [line[2:] for line in lines if re.match(r"^# (\[|[a-z_0-9]+ = )", line)]
    data = tomllib.loads("\n".join(live).replace('""  # secret', '"x"'))
    settings = Settings(**data)
    defaults = Settings()
    for section in Settings.model_fields:
        assert set(data.get(section, {})) >= set(type(getattr(defaults, section)).model_fields) - {"categories"}, (
            section
        )
    assert settings.inbox == defaults.inbox.model_copy(update={"password": settings.inbox.password})


def test_embedded_default_is_used_without_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VENTANILLA_CONFIG", raising=False)
    settings, source = load_settings(None)
    assert source.startswith("embedded default")
    assert settings.inbox.kind == "maildir" and settings.database.url.startswith("sqlite:///var/")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "v.toml"
    config.write_text('[inbox]\nkind = "imap"\nport = 993\n')
    monkeypatch.setenv("VENTANILLA_INBOX__PORT", "143")
    settings, _ = load_settings(config)
    assert (settings.inbox.kind, settings.inbox.port) == ("imap", 143)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[inbox]\nhots = "x"\n', "inbox.hots: unknown key"),
        ('[inbox]\nport = "x"\n', "inbox.port"),
        ("[inbox\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert named in str(info.value) and "\n" not in str(info.value)
