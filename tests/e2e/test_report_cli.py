"""`ventanilla report` as a subprocess on a month written by bench.month."""

import json

from bench.month import expected, generate, october2013
from tests.e2e.conftest import ventanilla
from tickets.db import make_engine
from tickets.migrate import upgrade


def test_report_command_prints_the_month(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    engine = make_engine(url)
    upgrade(engine)
    spec = october2013(0.005)
    generate(engine, spec)
    engine.dispose()
    config = tmp_path / "v.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    want = expected(spec)
    text = ventanilla("--config", config, "report", "--month", "2013-10", "--lang", "en", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"Emails received: {want['emails_received']}" in text.stdout
    data = ventanilla("--config", config, "report", "--month", "2013-10", "--format", "json", cwd=tmp_path)
    assert json.loads(data.stdout)["answers"] == want["answers"]
    bad = ventanilla("--config", config, "report", "--month", "2013-13", cwd=tmp_path)
    assert bad.returncode == 2 and "bad month" in bad.stderr
