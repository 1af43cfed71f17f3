"""deploy/: the systemd unit (systemd-analyze verify where it exists), the Containerfile and the
compose file (read as YAML: no container engine runs here), and the settings they use."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from config.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def unit_entries(text: str) -> dict[str, list[str]]:
    """`Key` -> every value it is given in the unit (a key may repeat)."""
    entries: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def test_the_systemd_unit_restarts_on_failure_reloads_on_hup_and_is_hardened() -> None:
    unit = unit_entries((DEPLOY / "ventanilla.service").read_text())
    assert unit["Type"] == ["simple"]
    assert unit["ExecStart"][0].endswith("/ventanilla run")
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Restart"] == ["on-failure"] and unit["RestartPreventExitStatus"] == ["78"]
    # SIGTERM to the worker alone: its parsing process is not killed under the batch in hand.
    assert unit["KillMode"] == ["mixed"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "PrivateDevices": "yes", "User": "ventanilla"}.items():
        assert unit[key] == [value], key
    assert unit["ReadWritePaths"] == [unit["WorkingDirectory"][0]]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ventanilla"  # the console script of this environment
    text = (DEPLOY / "ventanilla.service").read_text().replace("/opt/ventanilla/bin/ventanilla", str(script))
    unit = tmp_path / "ventanilla.service"
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    # verify exits 0 on a key it ignores: any line it prints about the unit is a defect.
    said = [line for line in (done.stdout + done.stderr).splitlines() if "ventanilla.service" in line]
    assert done.returncode == 0 and not said, done.stdout + done.stderr


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_the_containerfile_runs_the_console_script_as_a_non_root_user() -> None:
    steps = containerfile()
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    assert final[0] == ("FROM", "python:3.11-slim")
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    entry = json.loads(dict(final)["ENTRYPOINT"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry == ["ventanilla"] and "ventanilla" in scripts
    assert json.loads(dict(final)["CMD"]) == ["run"]
    assert "9464" in dict(final)["EXPOSE"] and "127.0.0.1:9464/healthz" in dict(final)["HEALTHCHECK"]


def test_the_image_holds_every_package_the_project_ships() -> None:
    copied = {args.split()[0] for op, args in containerfile() if op == "COPY" and "--from" not in args}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for pattern in packages["include"]:
        assert pattern.rstrip("*") in copied, f"{pattern} is not copied into the image"


def test_compose_runs_postgresql_and_two_workers_on_it() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    workers = {name: s for name, s in services.items() if s.get("command") == ["run"]}
    assert len(workers) == 2, sorted(services)
    for worker in workers.values():
        assert worker["image"] == services["init"]["image"] and worker["restart"] == "on-failure"
        assert worker["environment"]["VENTANILLA_DATABASE__URL"].startswith("postgresql://")
        assert "@db:5432/" in worker["environment"]["VENTANILLA_DATABASE__URL"]
        assert worker["depends_on"]["init"]["condition"] == "service_completed_successfully"
        mounted = worker["volumes"][0].split(":")[0]
        assert (DEPLOY / mounted).is_file()
    ports = [p for w in workers.values() for p in w["ports"]]
    assert len(set(ports)) == 2 and all(p.startswith("127.0.0.1:") for p in ports)
    assert services["init"]["command"] == ["init"]
    assert services["init"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["init"]["build"]["dockerfile"] == "deploy/Containerfile"


def test_the_compose_settings_file_is_valid() -> None:
    settings, _ = load_settings(DEPLOY / "ventanilla.toml")
    assert settings.inbox.kind == "imap" and settings.logging.format == "json"
